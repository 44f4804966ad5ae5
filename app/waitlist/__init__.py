"""候补 (waitlist) for a full doctor session: join with one tap, get the next freed place automatically
with the normal pay window, leave at any time, waiting ends at the session's cut-off.

The guard is in the database: a freed place moves to a waiting patient inside the same transaction
that freed it (the slice's guarded counter, taken again at once, never above capacity) and the entry
moves ``waiting -> offered`` by a guarded UPDATE, so one place goes to exactly one patient and never
more places are given than were freed."""
