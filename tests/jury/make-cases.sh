#!/bin/sh
# Write tests/cases/checkers/*.json, the examples of the built-in comparisons, checker
# programs and interactors, from the sources of this directory (run it again after
# changing one). Each file is a submission plus the `expect` object the tests read.
set -eu
cd "$(dirname "$0")"
out=../cases/checkers
mkdir -p "$out"

# case ID LANGUAGE SOURCE_TEXT TESTS_JSON EXTRA_JSON EXPECT_JSON
case_() {
        jq -n --arg id "$1" --arg lang "$2" --arg src "$3" --argjson tests "$4" \
                --argjson extra "$5" --argjson expect "$6" \
                '{type: "script", id: $id, language: $lang, source: $src,
                  limits: {time_limit_ms: 1000, memory_limit_bytes: 67108864}}
                 + $extra + {tests: $tests, expect: $expect}' >"$out/$1.json"
}
program() { # LANGUAGE FILE: {"language", "source"}
        jq -n --arg lang "$1" --rawfile src "$2" '{language: $lang, source: $src}'
}

sqrt_py='import math
print(math.sqrt(int(input())))
'
roots='[{"input": "2\n", "expected_output": "1.414213562\n"},
        {"input": "1000000\n", "expected_output": "1000.0000005\n"}]'
case_ float-ok python "$sqrt_py" "$roots" '{"checker": "float:1e-6"}' \
        '{"status": "OK", "tests": ["OK", "OK"]}'
case_ float-wa python "$sqrt_py" "$roots" '{"checker": "float:1e-12"}' \
        '{"status": "WA", "tests": ["WA", "-"]}'

case_ tokenslines-ok python 'print("1  2 ")
print("3")
print()
' '[{"input": "", "expected_output": "1 2\n3"}]' '{"checker": "tokens-lines"}' \
        '{"status": "OK", "tests": ["OK"]}'
case_ tokenslines-wa python 'print("1\n\n\n2")
' '[{"input": "", "expected_output": "1 2\n"}]' '{"checker": "tokens-lines"}' \
        '{"status": "WA", "tests": ["WA"]}'

rev_py='import sys
print("".join(reversed(sys.stdin.readlines())), end="")
'
case_ sorted-ok python "$rev_py" '[{"input": "a\nb b\nc\n", "expected_output": "a\nb b\nc\n"}]' \
        '{"checker": "sorted"}' '{"status": "OK", "tests": ["OK"]}'
case_ sorted-wa python "$rev_py" '[{"input": "a\na\nb\n", "expected_output": "a\nb\nb\n"}]' \
        '{"checker": "sorted"}' '{"status": "WA", "tests": ["WA"]}'

checker=$(program c checker_float.c)
case_ checker-ok python "$sqrt_py" "$roots" "{\"checker\": $checker}" \
        '{"status": "OK", "tests": ["OK", "OK"]}'
case_ checker-wa python "$sqrt_py" '[{"input": "3\n", "expected_output": "1.7\n"}]' \
        "{\"checker\": $checker}" '{"status": "WA", "tests": ["WA"]}'

games='[{"input": "123456789\n"}, {"input": "1\n"}]'
interactor=$(program cpp interactor_guess.cpp)
interactor_py=$(program python interactor_guess.py)
case_ interactor-ok c "$(cat guess_ok.c)" "$games" "{\"interactor\": $interactor}" \
        '{"status": "OK", "tests": ["OK", "OK"]}'
case_ interactorpy-ok python "$(cat guess_ok.py)" "$games" "{\"interactor\": $interactor_py}" \
        '{"status": "OK", "tests": ["OK", "OK"]}'
case_ interactor-wa c "$(cat guess_exits_early.c)" "$games" "{\"interactor\": $interactor}" \
        '{"status": "WA", "tests": ["WA", "-"]}'
case_ interactor-re c "$(cat guess_crash.c)" "$games" "{\"interactor\": $interactor}" \
        '{"status": "RE", "tests": ["RE", "-"]}'
case_ interactor-tl_sleep c "$(cat guess_never_reads.c)" "$games" \
        "{\"interactor\": $interactor, \"limits\": {\"time_limit_ms\": 500}}" \
        '{"status": "TL", "tests": ["TL", "-"]}'
