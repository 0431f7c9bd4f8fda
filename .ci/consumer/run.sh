#!/usr/bin/env bash
# The package leg of .ci/run, runnable on its own: packs every package to a local feed, creates a fresh console app
# outside the solution (a temp dir, its own nuget.config adding the feed to the machine's package sources) that
# references only the MiniGrad package, runs Program.cs beside this script (the README's short tour, a few training
# steps, the package's promises) and checks its output; then publishes the same app with NativeAOT (or, with
# MINIGRAD_CI_TRIM_ONLY=1, PublishTrimmed) and checks that the publish printed no warning and that the published
# program prints the same text.
#   MINIGRAD_PACK_NO_BUILD=1   pack without building (after .ci/run's first leg built Release)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
[ "${MINIGRAD_KEEP_TMP:-0}" = 1 ] && echo "keeping $tmp" || trap 'rm -rf "$tmp"' EXIT
fail() { echo "package leg: $*"; exit 1; }
step() { printf -- '--- %s\n' "$*"; }

step "dotnet pack -> $tmp/feed"
nobuild=(); [ "${MINIGRAD_PACK_NO_BUILD:-0}" = 1 ] && nobuild=(--no-build)
dotnet pack "$repo/MiniGrad.sln" -c Release "${nobuild[@]}" -o "$tmp/feed" -nologo -v q >"$tmp/pack.log" 2>&1 \
  || { tail -30 "$tmp/pack.log"; fail "pack failed"; }
ls "$tmp/feed"
for id in MiniGrad MiniGrad.Tensors MiniGrad.Autograd MiniGrad.Nn MiniGrad.Backends.Cpu MiniGrad.Backends.Ilgpu; do
  ls "$tmp/feed/$id".[0-9]*.nupkg >/dev/null 2>&1 || fail "no $id package"
  ls "$tmp/feed/$id".[0-9]*.snupkg >/dev/null 2>&1 || fail "no $id symbols package"
done
nupkg=$(ls "$tmp/feed"/MiniGrad.[0-9]*.nupkg)
version=$(basename "$nupkg" .nupkg); version=${version#MiniGrad.}
echo "MiniGrad $version"
unzip -l "$nupkg" >"$tmp/files.txt"; unzip -p "$nupkg" MiniGrad.nuspec >"$tmp/nuspec.xml"
grep -q 'buildTransitive/MiniGrad.props' "$tmp/files.txt" || fail "the MiniGrad package lacks buildTransitive/MiniGrad.props"
grep -q '<readme>README.md</readme>' "$tmp/nuspec.xml" || fail "the MiniGrad package has no readme"

# A package of this version from an earlier run would shadow the new one in the global packages folder.
cache=$(dotnet nuget locals global-packages --list | sed 's/^global-packages: *//')
rm -rf "$cache"/minigrad "$cache"/minigrad.*

app=$tmp/app
mkdir -p "$app"
cp "$here/Program.cs" "$app/"
cat >"$app/Consumer.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <ImplicitUsings>enable</ImplicitUsings>
    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="MiniGrad" Version="[$version]" />
  </ItemGroup>
</Project>
XML
# The local feed beside the machine's own sources (the user-level NuGet.Config's registry brings the rest); the exact
# version in the project keeps a same-named package elsewhere out.
cat >"$app/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="minigrad-local" value="$tmp/feed" />
  </packageSources>
</configuration>
XML

step "dotnet run (a console app referencing only MiniGrad $version)"
(cd "$app" && dotnet build -c Release -nologo -v q >"$tmp/build.log" 2>&1) || { tail -30 "$tmp/build.log"; fail "the consumer app did not build"; }
grep -E 'warning' "$tmp/build.log" && fail "the consumer app's build printed warnings"
out=$app/bin/Release/net10.0
ls "$out" >"$tmp/out.txt"; grep -i ilgpu "$tmp/out.txt" && fail "ILGPU was copied into a CPU-only app"
grep -q '"System.GC.LOHThreshold": 33554432' "$out/Consumer.runtimeconfig.json" || { cat "$out/Consumer.runtimeconfig.json"; fail "the package's GC options are not in the app's runtimeconfig.json"; }
"$out/Consumer" >"$tmp/jit.txt" 2>&1; rc=$?
cat "$tmp/jit.txt"
[ "$rc" -eq 0 ] || fail "the consumer app failed (exit $rc)"
grep -q 'consumer: all checks passed' "$tmp/jit.txt" || fail "the consumer app did not pass its checks"

if [ "${MINIGRAD_CI_TRIM_ONLY:-0}" = 1 ]; then
  kind=PublishTrimmed; props=(-p:PublishTrimmed=true --self-contained)
else
  # IlcInstructionSet=native: the machine's SIMD width, as the JIT picks it, so that both builds print the same digits
  # (at another width a few float32 results differ in the last bits).
  kind=PublishAot; props=(-p:PublishAot=true -p:IlcInstructionSet=native)
  # NativeAOT links with clang by default; gcc (on this machine kind) links as well. It needs zlib's headers too.
  missing=()
  dpkg -s zlib1g-dev >/dev/null 2>&1 || missing+=(zlib1g-dev)
  if command -v clang >/dev/null; then :
  elif command -v gcc >/dev/null; then props+=(-p:CppCompilerAndLinker=gcc)
  else missing+=(clang)
  fi
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing ${missing[*]}"
    { apt-get -o DPkg::Lock::Timeout=600 update -q && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q "${missing[@]}"; } \
      >"$tmp/apt.log" 2>&1 || { tail -20 "$tmp/apt.log"; fail "installing ${missing[*]} failed"; }
  fi
fi
step "dotnet publish -r linux-x64 ${props[*]}"
(cd "$app" && dotnet publish -c Release -r linux-x64 "${props[@]}" -o "$tmp/published" -nologo >"$tmp/publish.log" 2>&1) \
  || { tail -40 "$tmp/publish.log"; fail "$kind failed"; }
if grep -iE ': warning ' "$tmp/publish.log"; then fail "$kind printed warnings"; fi
ls -la "$tmp/published" | head -20
"$tmp/published/Consumer" >"$tmp/published.txt" 2>&1; rc=$?
[ "$rc" -eq 0 ] || { cat "$tmp/published.txt"; fail "the $kind program failed (exit $rc)"; }
diff "$tmp/jit.txt" "$tmp/published.txt" || fail "the $kind program printed something else than the JIT build"
echo "package leg: the $kind program printed the same $(wc -l <"$tmp/published.txt") lines as the JIT build"
echo "package leg: passed"
