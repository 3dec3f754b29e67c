# bench/scrc.gp: the charts of bench/scrc, from the chart-*.tsv files it writes.
#   gnuplot -c bench/scrc.gp OUTDIR CHART [CORES] [NOTE]
# CHART: parallel, latency, timeout, replicas, share or cpu. scrc runs this for every chart
# it has data for; run it by hand to redraw after editing. NOTE goes under each title.

if (ARGC < 2) { print "usage: gnuplot -c scrc.gp OUTDIR CHART [CORES] [NOTE]"; exit status 2 }
cd ARG1
chart = ARG2
cores = (ARGC >= 3) ? ARG3 : "2"
note = (ARGC >= 4) ? ARG4 : ""
# the note sits under everything: keep a bottom margin for it
foot = "set label 99 note at screen 0.005, 0.012 left font ',9' tc rgb '#555555'; set bmargin 5"

set terminal pngcairo size 1100,650 font "DejaVu Sans,11" noenhanced
set datafile separator "\t"
set datafile columnheaders
set grid ytics lc rgb "#dddddd"
set border 3
set tics nomirror
set key top left box opaque
@foot

langs = "python go c cpp java"
outs = "ok wa tl ml bf"
# one colour per outcome, one per language
ocol(o) = word("#2e7d32 #f9a825 #c62828 #6a1b9a #546e7a", o + 1)
lcol(l) = word("#1565c0 #00838f #ef6c00 #ad1457 #6d4c41", l + 1)

if (chart eq "parallel") {
    set output "parallel.png"
    set title "Saturated throughput against RUNNER_MAX_PARALLEL\n(medium mix, one jailrun serve, ".cores."-core VM)"
    set xlabel "RUNNER_MAX_PARALLEL (executors)"
    set ylabel "submissions per minute"
    set y2label "median latency (s)"
    set y2tics
    set xtics 1
    stats "chart-parallel.tsv" using 1 nooutput
    set xrange [STATS_min - 0.5:STATS_max + 0.5]
    set yrange [0:*]
    set y2range [0:*]
    set key bottom right
    plot "chart-parallel.tsv" using 1:2 with linespoints lw 2 pt 7 ps 1.5 lc rgb "#1565c0" title "throughput (results/min in the window)", \
         "" using 1:2:(sprintf("%.0f", $2)) with labels offset 0,1.2 notitle, \
         "" using 1:3 with linespoints lw 1 dt 2 pt 4 lc rgb "#c62828" title "CPU bound: ".cores." cores x 60 s / CPU s per submission", \
         "" using 1:4 axes x1y2 with linespoints lw 1 dt 3 pt 6 lc rgb "#555555" title "median latency (right axis)"
}

if (chart eq "latency") {
    # box plots: whiskers p5..p95, box q1..q3, black bar the median
    set output "latency-box.png"
    set title "End-to-end latency per language and outcome\n(send to result, the rate runs light and medium pooled; whiskers p5-p95, box q1-q3, bar median)"
    set ylabel "latency (s, log scale)"
    set logscale y
    set xrange [-1:29]
    set xtics ("python" 2, "go" 8, "c" 14, "cpp" 20, "java" 26) scale 0
    set ytics (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50)
    set boxwidth 0.8
    set style fill solid 0.6 border -1
    set key outside right top vertical
    set yrange [0.02:*]
    plot for [o=0:4] "chart-latency.tsv" using ($5 == o ? $1 : NaN):8:7:11:10 with candlesticks whiskerbars lc rgb ocol(o) title word(outs, o + 1), \
         "chart-latency.tsv" using 1:9:9:9:9 with candlesticks lt -1 lw 2 notitle, \
         "" using 1:(0.028):(sprintf("n=%d", $6)) with labels font ",8" tc rgb "#555555" notitle

    # heatmap of the medians
    reset
    set terminal pngcairo size 1000,650 font "DejaVu Sans,11" noenhanced
    set datafile separator "\t"
    set datafile columnheaders
    @foot
    set output "latency-heatmap.png"
    set title "Median latency per language and outcome (s)\n(the rate runs light and medium pooled; n = submissions)"
    set xrange [-0.5:4.5]
    set yrange [-0.5:4.5] reverse
    set xtics ("ok" 0, "wa" 1, "tl" 2, "ml" 3, "bf" 4) scale 0
    set ytics ("python" 0, "go" 1, "c" 2, "cpp" 3, "java" 4) scale 0
    set xlabel "outcome"
    set ylabel "language"
    set cblabel "median latency (s, log scale)"
    set logscale cb
    set cbtics (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20)
    set palette defined (0 "#fff7bc", 1 "#fe9929", 2 "#cc4c02", 3 "#662506")
    set border 0
    plot "chart-latency.tsv" using 5:4:(0.5):(0.5):9 with boxxyerror fs solid 1.0 noborder lc palette notitle, \
         "" using 5:4:(sprintf("%.2f s\nn=%d", $9, $6)) with labels font ",11" notitle

    # the time in the judge alone: no Kafka, no queue (what the language's set-up costs)
    set output "latency-judge.png"
    set title "Median time in the judge per language and outcome (s)\n(serve's total_ms: build, tests, jailrun's own work; no Kafka, no queue; light and medium pooled)"
    set cblabel "median time in the judge (s, log scale)"
    plot "chart-latency.tsv" using 5:4:(0.5):(0.5):12 with boxxyerror fs solid 1.0 noborder lc palette notitle, \
         "" using 5:4:(sprintf("%.2f s\nn=%d", $12, $6)) with labels font ",11" notitle
}

if (chart eq "timeout") {
    set output "timeout.png"
    set bmargin 6
    set offsets 0, 0, graph 0.2, 0
    set multiplot layout 1,2 title "Timeout impact: the timeout-heavy profile (tl x 2.5) against heavy, RUNNER_MAX_PARALLEL=2"
    set style data histograms
    set style histogram clustered gap 1
    set style fill solid 0.8 border -1
    set boxwidth 0.9
    set key top right
    set title "throughput (results received in the window)"
    set ylabel "submissions per minute"
    set yrange [0:*]
    plot "chart-timeout.tsv" using 2:xtic(1) lc rgb "#1565c0" title "heavy", \
         "" using 3 lc rgb "#c62828" title "timeout-heavy"
    set title "median latency (offered 120/min)"
    set ylabel "median latency (s)"
    set xtics rotate by -30
    plot "chart-timeout-latency.tsv" using 2:xtic(1) lc rgb "#1565c0" title "heavy", \
         "" using 3 lc rgb "#c62828" title "timeout-heavy"
    unset multiplot
}

if (chart eq "replicas") {
    set output "replicas.png"
    set title "Saturated throughput against serve replicas in one consumer group\n(medium mix, each replica RUNNER_MAX_PARALLEL=P, ".cores."-core VM)"
    set xlabel "jailrun serve processes (replicas)"
    set ylabel "submissions per minute"
    set xtics 1
    set yrange [0:*]
    stats "chart-replicas.tsv" using 1 nooutput
    set xrange [STATS_min - 0.5:STATS_max + 0.5]
    ncol = STATS_columns
    set key bottom right width 1
    plot for [c=2:ncol] "chart-replicas.tsv" using 1:c with linespoints lw 2 pt 7 ps 1.5 lc rgb lcol(c - 2) title columnhead(c), \
         for [c=2:ncol] "" using 1:c:(sprintf("%.0f", column(c))) with labels offset 0,1.2 notitle

    reset
    set terminal pngcairo size 900,600 font "DejaVu Sans,11" noenhanced
    set datafile separator "\t"
    set datafile columnheaders
    @foot
    set output "replicas-grid.png"
    set title "Saturated throughput (submissions/min), replicas x RUNNER_MAX_PARALLEL\n(medium mix; the cells that were measured)"
    set xlabel "RUNNER_MAX_PARALLEL per replica"
    set ylabel "replicas"
    set xtics 1 scale 0
    set ytics 1 scale 0
    stats "chart-grid.tsv" using 1:2 nooutput
    set xrange [STATS_min_x - 0.5:STATS_max_x + 0.5]
    set yrange [STATS_min_y - 0.5:STATS_max_y + 0.5]
    set cblabel "submissions per minute"
    set palette defined (0 "#f7fbff", 1 "#6baed6", 2 "#08306b")
    set border 0
    plot "chart-grid.tsv" using 1:2:(0.5):(0.5):3 with boxxyerror fs solid 1.0 noborder lc palette notitle, \
         "" using 1:2:(sprintf("%.0f", $3)) with labels font ",13" notitle
}

if (chart eq "share") {
    set output "share.png"
    set title "Language share of throughput\n(results received in the measurement window, per minute, by language)"
    set style data histograms
    set style histogram rowstacked
    set style fill solid 0.85 border -1
    set boxwidth 0.6
    set ylabel "submissions per minute"
    set yrange [0:*]
    set xtics rotate by -20
    set key outside right top vertical
    set bmargin 8
    plot for [l=0:4] "chart-share.tsv" using (column(l + 2)):xtic(1) lc rgb lcol(l) title word(langs, l + 1)
}

if (chart eq "cpu") {
    set output "cpu.png"
    set title "CPU seconds per submission by part, and the CPU bound on throughput\n(compilers and programs: tasks of the slot uids, from taskstats; jailrun: the rest of the serve trees)"
    set style data histograms
    set style histogram rowstacked
    set style fill solid 0.85 border -1
    set boxwidth 0.6
    set ylabel "CPU seconds per submission"
    set y2label "CPU bound: submissions per minute on ".cores." cores"
    set y2tics
    set yrange [0:*]
    set y2range [0:*]
    set xtics rotate by -25
    set key outside right top vertical
    set bmargin 9
    plot "chart-cpu.tsv" using 2:xtic(1) lc rgb "#1565c0" title "compilers", \
         "" using 3 lc rgb "#ef6c00" title "programs", \
         "" using 4 lc rgb "#c62828" title "jailrun", \
         "" using 0:5 axes x1y2 with points pt 7 ps 1.5 lc rgb "#333333" title "CPU bound (right axis)"
}
