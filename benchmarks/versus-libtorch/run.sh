#!/usr/bin/env bash
# libtorch and MiniGrad side by side in one process, alternating call by call (Versus.cs), on the workloads of
# issues 12 and 14. Needs the libtorch oracle (../shared/oracle beside the repository, or MINIGRAD_ORACLE_DIR);
# measuring only, the project never depends on it.
#   benchmarks/versus-libtorch/run.sh [reps per round] [rounds] [workload prefixes,comma-separated|all]
# Widths: DOTNET_EnableAVX512=0 holds MiniGrad to AVX2 (DOTNET_EnableAVX=0: 128-bit); ATEN_CPU_CAPABILITY=avx2
# ONEDNN_MAX_CPU_ISA=AVX2 hold libtorch's own kernels to AVX2 (not MKL's GEMM).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
oracle=${MINIGRAD_ORACLE_DIR:-$repo/../shared/oracle}
[ -f "$oracle/run.sh" ] || { echo "error: no libtorch oracle at $oracle (set MINIGRAD_ORACLE_DIR)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$oracle"/*.cs "$oracle"/*.csproj "$oracle"/run.sh "$work"/
cp "$here/Versus.cs" "$work"/
# the oracle plus the MiniGrad package (as a project, with the backend registration its build file brings) and the
# GC options every MiniGrad program sets, and a "versus" command in front of its own
sed -i "s|</Project>|  <ItemGroup><ProjectReference Include=\"$repo/src/MiniGrad/MiniGrad.csproj\" /></ItemGroup><Import Project=\"$repo/src/MiniGrad/buildTransitive/MiniGrad.targets\" />\n  <ItemGroup><RuntimeHostConfigurationOption Include=\"System.GC.LOHThreshold\" Value=\"33554432\" /><RuntimeHostConfigurationOption Include=\"System.GC.RegionSize\" Value=\"33554432\" /></ItemGroup>\n  <PropertyGroup><ConcurrentGarbageCollection>false</ConcurrentGarbageCollection><TieredPGO>true</TieredPGO></PropertyGroup>\n</Project>|" "$work/Oracle.csproj"
sed -i '/^using TorchSharp;/a if (args.Length >= 1 \&\& args[0] == "versus") { Versus.Run(args); return 0; }' "$work/Program.cs"
# a cache of its own for the build (the oracle's run.sh copies the sources there), sharing the downloaded runtime
cache=${MINIGRAD_ORACLE_CACHE:-$HOME/.cache/minigrad-oracle}
mkdir -p "$work/cache"
[ -d "$cache/root" ] && ln -s "$cache/root" "$work/cache/root"
MINIGRAD_ORACLE_CACHE=$work/cache bash "$work/run.sh" versus "$@"
