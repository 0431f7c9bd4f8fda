#!/usr/bin/env bash
# Runs the course's notebooks headless, as CI does: builds MiniGrad (the notebooks #r its Release build), restores
# dotnet-repl (a local tool, .config/dotnet-tools.json), runs each notebook top to bottom with it, and fails when a
# notebook's run fails, a cell produced an error, a "CHECK ...: FAILED" line was printed, or one of the checks named
# below for that notebook is missing. The executed notebooks (with outputs) go to OUT.
#   bash notebooks/run.sh [OUT] [NOTEBOOK...]     (default OUT: a temporary folder; default: every notebooks/NN-*.ipynb)
# MINIGRAD_NOTEBOOKS_NO_BUILD=1 skips the build (CI builds the solution before).
set -uo pipefail
cd "$(dirname "$0")/.."
# Telemetry off: without it dotnet-repl waits on an endpoint it cannot reach here (runs took minutes, not seconds).
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_INTERACTIVE_CLI_TELEMETRY_OPTOUT=1 DOTNET_REPL_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
out=${1:-$(mktemp -d)}
shift || true
mkdir -p "$out"
out=$(cd "$out" && pwd)
notebooks=("$@")
[ ${#notebooks[@]} -eq 0 ] && notebooks=(notebooks/[0-9][0-9]-*.ipynb)

# Checks each notebook must report as ok (the notebooks print "CHECK name: ok"; see their first cell).
required() {
  case "$(basename "$1")" in
    01-*) echo "micrograd's gradients|finite differences agree|GradCheck" ;;
    02-*) echo "broadcast backward sums|matmul gradients|GradCheck catches a wrong gradient" ;;
    03-*) echo "loss by hand equals CtcLoss|gradient by hand equals CtcLoss's|too short gives inf" ;;
    04-*) echo "clipping bounds the norm" ;;
    05-*) echo "loss fell" ;;
    *) echo "" ;;
  esac
}

if [ "${MINIGRAD_NOTEBOOKS_NO_BUILD:-0}" != 1 ]; then
  dotnet build src/Interactive/MiniGrad.Interactive.csproj -c Release -v q -nologo >"$out/build.log" 2>&1 || { tail -30 "$out/build.log"; echo "notebooks: build failed"; exit 1; }
fi
dotnet tool restore >"$out/restore.log" 2>&1 || { cat "$out/restore.log"; echo "notebooks: dotnet tool restore failed"; exit 1; }

rc=0 passed=0 failed=0
for nb in "${notebooks[@]}"; do
  name=$(basename "$nb")
  t=$SECONDS
  # From the notebook's folder, as an editor runs it: the #r paths are relative to it.
  (cd "$(dirname "$nb")" && timeout 900 dotnet repl --run "$name" --exit-after-run --output-path "$out/$name") >"$out/$name.log" 2>&1
  run_rc=$?
  problems=()
  [ "$run_rc" -ne 0 ] && problems+=("dotnet repl exited $run_rc")
  if [ ! -f "$out/$name" ]; then
    problems+=("no output notebook")
  else
    grep -q '"output_type": *"error"' "$out/$name" && problems+=("a cell failed: $(grep -o '"evalue": *"[^"]\{0,300\}' "$out/$name" | head -3 | tr '\n' ' ')")
    grep -q 'CHECK [^"\\]*: FAILED' "$out/$name" && problems+=("$(grep -o 'CHECK [^"\\]*: FAILED[^"\\]*' "$out/$name" | tr '\n' ' ')")
    IFS='|' read -ra need <<<"$(required "$nb")"
    for c in "${need[@]}"; do
      grep -qF "CHECK $c: ok" "$out/$name" || problems+=("missing check '$c'")
    done
    grep -o 'CHECK [^"\\]*' "$out/$name" | grep -vF '{what}' | sed 's/^/  /'
  fi
  secs=$((SECONDS - t))
  if [ ${#problems[@]} -eq 0 ]; then
    passed=$((passed + 1)); echo "notebook $name: ok in ${secs}s"
  else
    failed=$((failed + 1)); rc=1
    echo "notebook $name: FAILED in ${secs}s"; printf '  %s\n' "${problems[@]}"; tail -5 "$out/$name.log"
  fi
done
echo "notebooks ok: $passed, failed: $failed (outputs in $out)"
exit "$rc"
