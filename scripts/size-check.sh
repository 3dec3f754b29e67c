#!/bin/sh
# The layout's size rule: no function of src/ or sandbox/ longer than 150 lines, no file
# longer than 1,200. Prints each one that is, and exits 1 if there is any. (POSIX awk:
# Debian's default awk is mawk.)
cd "$(dirname "$0")/.."
git ls-files 'src/*.c' 'sandbox/*.c' | xargs awk '
    function file_done() { if (name != "" && lines > 1200) { print name ": " lines " lines"; bad = 1 } }
    FNR == 1 { file_done(); name = FILENAME; s = 0 }
    { lines = FNR }
    /^\{/ { s = FNR }
    /^\}/ { if (s && FNR - s + 1 > 150) { print FILENAME ":" s ": function of " FNR - s + 1 " lines"; bad = 1 } s = 0 }
    END { file_done(); exit bad }'
