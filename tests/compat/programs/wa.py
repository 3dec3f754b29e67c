import sys

# off by one: the sum of the numbers plus one
print(sum(int(word) for word in sys.stdin.read().split()) + 1)
