"""For mothers and children: the 孕产期 journey (gestational age, the 产检 plan, reminders with one-tap
booking, 孕妇学校 classes) and the 儿童保健 journey (the 儿保 plan by age, reminders, past checks).

``rules`` holds the pure arithmetic (dates in, dates out), ``commands`` the use cases (one unit of
work each), ``queries`` what the pages read, ``states`` the class booking's state machine.
"""
