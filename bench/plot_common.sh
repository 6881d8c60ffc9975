# Sourced by bench/fig_*.sh: the gnuplot terminal (pngcairo when this
# gnuplot has it, else the libgd png terminal).
if gnuplot -e 'set terminal pngcairo' </dev/null >/dev/null 2>&1; then
  GP_TERM="pngcairo size 1400,560 font 'sans,10'"
else
  GP_TERM="png size 1400,560"
fi
command -v gnuplot >/dev/null || { echo "bench: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }
