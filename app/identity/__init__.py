"""Who the patient is: ``sign_in`` (a channel's one-time code becomes a channel user), ``follows`` (follow /
unfollow of the 服务号 and 服务窗, the account's follow state), ``patients`` (an account's 就诊人, every
lookup scoped to the owner), ``cards`` (binding 就诊卡 after the HIS verifies them) and ``id_numbers``
(居民身份证号码: check digit, birth date, gender)."""
