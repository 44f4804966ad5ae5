"""The shared kernel the domain packages stand on: units of work, the guarded state move, audit, errors,
money, formatting, signing, settings and the HIS access. Only a service's unit of work commits."""
