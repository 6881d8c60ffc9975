# Sourced by bench/fig_*.sh: the gnuplot terminal (pngcairo when this
# gnuplot has it, else the libgd png terminal).
if gnuplot -e 'set terminal pngcairo' </dev/null >/dev/null 2>&1; then
  GP_TERM="pngcairo size 1400,560 font 'sans,10'"
else
  GP_TERM="png size 1400,560"
fi
command -v gnuplot >/dev/null || { echo "bench: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }
# split_by_arch CSV DIR: DIR/mqa.csv, DIR/hawk.csv, DIR/griffin.csv with each
# architecture's rows, header dropped. The programs interleave the
# architectures row by row, and gnuplot breaks a line at every row a `using`
# filter rejects, so each line is drawn from its own file.
split_by_arch() {
  local a
  for a in mqa hawk griffin; do : >"$2/$a.csv"; done
  awk -F, -v d="$2" 'NR > 1 && ($1 == "mqa" || $1 == "hawk" || $1 == "griffin") { print > (d "/" $1 ".csv") }' "$1"
}

# Built against a pthreads OpenBLAS, the programs mix its threads with
# OpenMP's; libgomp's idle threads spin for milliseconds by default and take a
# core from OpenBLAS (the griffin tool sets the same for itself then:
# tools/cli.c cli_tune_openmp). With the OpenMP OpenBLAS the Makefile prefers,
# this changes little.
if [ -z "${OMP_WAIT_POLICY:-}" ]; then export GOMP_SPINCOUNT=${GOMP_SPINCOUNT:-10000}; fi

# Where the scripts build and write: BUILD=DIR, RESULTS=DIR (trial runs).
build=${BUILD:-build}
res=${RESULTS:-bench/results}
mkdir -p "$res"

# run_figure NAME [options...]: builds the programs, runs $build/bench/NAME
# with the options and --out $res/NAME.csv, and records the machine, the
# settings and the wall time in $res/NAME.meta.txt. Further runs of the same
# figure go between run_figure and finish_figure NAME, whose wall time then
# covers them too.
run_figure() {
  local name=$1
  shift
  make -j2 bench-programs >&2
  bash bench/machine_info.sh --limits >"$res/$name.meta.txt"
  echo "settings:    $name $*" >>"$res/$name.meta.txt"
  figure_t0=$(date +%s)
  "$build/bench/$name" "$@" --out "$res/$name.csv"
}
finish_figure() {
  echo "wall:        $(( $(date +%s) - figure_t0 )) s; load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$res/$1.meta.txt"
}

# split_csv CSV: a fresh folder (removed at exit) with split_by_arch's files.
split_csv() {
  split=$(mktemp -d)
  trap 'rm -rf "$split"' EXIT
  split_by_arch "$1" "$split"
}
