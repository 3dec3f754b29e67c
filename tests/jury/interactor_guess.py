# The guessing game's interactor of interactor_guess.cpp, in Python: the same protocol,
# exit codes and messages. Python ignores SIGPIPE, so a program that stopped reading is
# seen here as BrokenPipeError: a wrong answer, said before stdout is dropped (flushing
# it again at exit would turn the exit status into 120, the interactor's failure).
import os
import sys


class Gone(Exception):
    pass


def reply(text):
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise Gone()


def main():
    if len(sys.argv) < 3:
        print("fail: usage: interactor input output", file=sys.stderr)
        return 3
    try:
        with open(sys.argv[1]) as f:
            secret = int(f.read().split()[0])
        tout = open(sys.argv[2], "w")
    except (OSError, ValueError, IndexError) as e:
        print("fail: cannot read the input:", e, file=sys.stderr)
        return 3
    for q in range(1, 33):
        line = sys.stdin.readline()
        if not line:
            print(f"wrong answer: the program ended after {q - 1} queries", file=sys.stderr)
            return 1
        parts = line.split()
        if len(parts) != 2 or parts[0] != "?" or not parts[1].lstrip("-").isdigit():
            print(f'presentation error: query {q} is not "? N"', file=sys.stderr)
            return 2
        g = int(parts[1])
        if g == secret:
            reply("=")
            print(q, file=tout)
            print(f"ok: found {secret} in {q} queries", file=sys.stderr)
            return 0
        reply("+" if g < secret else "-")
    print("wrong answer: not found in 32 queries", file=sys.stderr)
    return 1


try:
    status = main()
except Gone:
    print("wrong answer: the program stopped reading", file=sys.stderr)
    status = 1
sys.exit(status)
