# shellcheck shell=bash
# bench/lib/stats.sh: the arithmetic the latency benches and s3.sh share. Source it.
#   ratio A B        A / B, three decimals
#   median           of the numbers on stdin, one per line (mean of the two middle ones)
#   verdict R T      MET if R <= T, else MISSED
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r <= t) ? "MET" : "MISSED" }'; }
