# one string of 1 GiB: every byte of it is written
s = "x" * (1 << 30)
print(len(s))
