# SPDX-License-Identifier: LGPL-2.1-or-later
# The shim/native ratios of tests/bench/http-bench.sh as clustered bars,
# one cluster per file size and connection count.
#
#   gnuplot -e "datafile='RATIOS'; outfile='OUT.png'" tests/bench/http-plot.gp
#
# RATIOS is tab-separated: size, connections, requests/s ratio, throughput
# ratio (NaN for a cell without results).  Optional: -e "plottitle='...'".

if (!exists("datafile") || !exists("outfile")) {
	print "usage: gnuplot -e \"datafile='F'; outfile='F.png'\" http-plot.gp"
	exit status 2
}
if (!exists("plottitle")) plottitle = "static files: libsplicemsg / native"

# pngcairo draws antialiased text and lines; plain png is the fallback for
# builds without cairo.
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
	set terminal pngcairo size 1000,560 font "sans,10"
} else {
	set terminal png size 1000,560
}
set output outfile

set datafile separator "\t"
set title plottitle
set ylabel "shim / native (median)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 1
set grid ytics
set key top left opaque
set xtics nomirror
set style textbox opaque noborder
# Bars start at 0 so their lengths compare honestly; the headroom keeps the
# value labels clear of the frame.
set yrange [0:*]
set offsets 0, 0, graph 0.12, 0
# A cell without results still gets its place on the axis, and says so.
stats datafile using 0 nooutput
set xrange [-0.5:STATS_records - 0.5]
# two lines of tic labels
set bmargin 4

# With two bars and a gap of one, each bar is 1/3 wide, centred 1/6 either
# side of the cluster's position.  The y = 1 line (parity: above it the shim
# is faster) goes over the bars and under the values, which are boxed.
plot datafile using 3:xtic(sprintf("%s\n%s conn", strcol(1), strcol(2))) \
		title "requests/s" lc rgb "#4477aa", \
	'' using 4 title "throughput" lc rgb "#ee7733", \
	1 with lines dt 2 lw 2 lc rgb "black" title "native = 1", \
	'' using ($0 - 1.0/6):3:(sprintf("%.2f", $3)) with labels boxed \
		offset 0, 0.8 notitle, \
	'' using ($0 + 1.0/6):4:(sprintf("%.2f", $4)) with labels boxed \
		offset 0, 0.8 notitle, \
	'' using 0:(0):(strcol(3) eq "NaN" ? "no result" : "") with labels \
		offset 0, 1 notitle
