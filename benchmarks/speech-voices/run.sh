#!/usr/bin/env bash
# Speech on voices the model never heard: builds (once) a multi-speaker spoken-digit corpus with Debian's
# text-to-speech engines, trains examples/SpeechCtc on seven espeak-ng voices, and reports the test CER on two
# unseen espeak-ng voices and on four flite voices (another engine); --engine flite|festival|mixed|many|rhvoice takes the
# training and the unseen test voices from other engines instead, and --engine fsdd from people's recordings (the Free
# Spoken Digit Dataset). See README.md beside this file.
#
#   bash benchmarks/speech-voices/run.sh [--engine espeak-ng|flite|festival|mixed|many|rhvoice|fsdd] [--utterances N]
#                                        [--corpus DIR] [--fsdd DIR] [--out DIR] [--seed S] [--columns auto|2|3]
#                                        [--per-voice] [--skip-train] [--no-install] [--corpus-only] [-- SpeechCtc args...]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

utterances=1000
seed=13
columns=auto
install=1
corpus_only=0
per_voice=0
skip_train=0
engine=espeak-ng
corpus=""
fsdd=""
out="$repo/speechctc-out/voices-$(date +%Y%m%d-%H%M%S)"
extra=()

usage() { sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --engine) engine="$2"; shift 2 ;;
        --utterances) utterances="$2"; shift 2 ;;
        --corpus) corpus="$2"; shift 2 ;;
        --fsdd) fsdd="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --seed) seed="$2"; shift 2 ;;
        --columns) columns="$2"; shift 2 ;;
        --no-install) install=0; shift ;;
        --corpus-only) corpus_only=1; shift ;;
        --per-voice) per_voice=1; shift ;;
        --skip-train) skip_train=1; shift ;;
        -h|--help) usage; exit 0 ;;
        --) shift; extra=("$@"); break ;;
        *) echo "run.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
[[ "$utterances" =~ ^[0-9]+$ ]] || { echo "run.sh: --utterances expects a number, got '$utterances'" >&2; exit 2; }
[[ "$columns" =~ ^(auto|2|3)$ ]] || { echo "run.sh: --columns expects auto, 2 or 3, got '$columns'" >&2; exit 2; }
[[ "$engine" =~ ^(espeak-ng|flite|festival|mixed|many|rhvoice|fsdd)$ ]] || { echo "run.sh: --engine expects espeak-ng, flite, festival, mixed, many, rhvoice or fsdd, got '$engine'" >&2; exit 2; }
[[ -z $fsdd || $engine == fsdd ]] || { echo "run.sh: --fsdd is for --engine fsdd only, not --engine $engine" >&2; exit 2; }
# One corpus directory per engine: corpus-voices (espeak-ng, as before) or corpus-<engine>.
name=corpus-voices; [[ $engine != espeak-ng ]] && name="corpus-$engine"
if [[ -z "$corpus" ]]; then
    if [[ $engine == espeak-ng && -n "${SPEECH_VOICES_CORPUS:-}" ]]; then corpus="$SPEECH_VOICES_CORPUS"
    elif [[ -d /work && -w /work ]]; then corpus="/work/$name"
    else corpus="${XDG_CACHE_HOME:-$HOME/.cache}/minigrad/$name"; fi
fi

# 1. The engines, from Debian's packages (festival with its English voices: festvox-kallpc16k, festvox-kdlpc16k,
# festvox-us-slt-hts; for --engine many festvox-don and festvox-rablpc16k). --engine many and rhvoice need Debian's contrib and
# non-free components (RHVoice, Pico, MBROLA's voices, the don and rab voices); where apt lacks them they are added
# for Debian's own mirror (/etc/apt/sources.list.d/debian-contrib-non-free.sources).
case $engine in
    espeak-ng) programs=(espeak-ng flite); packages=(espeak-ng flite); voices=() ;;
    flite) programs=(flite); packages=(flite); voices=() ;;
    festival|mixed)
        programs=(festival); packages=(festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts)
        voices=(english/kal_diphone english/ked_diphone us/cmu_us_slt_arctic_hts)
        if [[ $engine == mixed ]]; then programs+=(flite); packages+=(flite); fi ;;
    many)
        programs=(RHVoice-test pico2wave espeak-ng mbrola festival)
        packages=(rhvoice rhvoice-english libttspico-utils espeak-ng mbrola mbrola-en1 mbrola-us1 mbrola-us2 mbrola-us3
                  festival festvox-don festvox-rablpc16k)
        voices=(english/don_diphone english/rab_diphone) ;;
    rhvoice) programs=(RHVoice-test); packages=(rhvoice rhvoice-english); voices=() ;;
    fsdd) programs=(); packages=(); voices=() ;;  # recordings, not an engine (below)
esac
missing=0
for p in "${programs[@]+"${programs[@]}"}"; do command -v "$p" >/dev/null || missing=1; done
for v in "${voices[@]+"${voices[@]}"}"; do [[ -d /usr/share/festival/voices/$v ]] || missing=1; done
if [[ $engine == many ]]; then
    for v in en1 us1 us2 us3; do [[ -d /usr/share/mbrola/$v ]] || missing=1; done
fi
if [[ $install == 1 && $missing == 1 ]]; then
    sudo=""; [[ $(id -u) != 0 ]] && sudo="sudo"
    echo "== installing ${packages[*]} (apt-get)"
    served=1
    for p in "${packages[@]}"; do apt-cache show "$p" >/dev/null 2>&1 || served=0; done
    if [[ $engine =~ ^(many|rhvoice)$ && $served == 0 ]]; then
        codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
        [[ -n $codename && -f /usr/share/keyrings/debian-archive-keyring.gpg ]] \
            || { echo "run.sh: --engine $engine needs Debian's contrib and non-free components (a Debian system)" >&2; exit 1; }
        echo "== adding Debian's contrib and non-free components ($codename) for RHVoice, Pico and MBROLA's voices"
        printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: contrib non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            "$codename" | $sudo tee /etc/apt/sources.list.d/debian-contrib-non-free.sources >/dev/null
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi
for p in "${programs[@]+"${programs[@]}"}"; do
    [[ $engine == espeak-ng && $p == flite ]] && continue  # (optional there: without it, no other-engine test set)
    command -v "$p" >/dev/null || { echo "run.sh: $p is not installed" >&2; exit 1; }
done

# 2. The corpus, built once and reused.
if [[ -f "$corpus/corpus.json" ]]; then
    if ! python3 - "$corpus/corpus.json" "$utterances" "$seed" "$engine" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
sys.exit(0 if (c["utterances"], c["seed"], c.get("engine", "espeak-ng")) == (int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]) else 1)
EOF
    then
        echo "run.sh: $corpus holds a corpus with other settings ($(python3 -c "import json,sys; c=json.load(open(sys.argv[1])); print(f'--engine {c.get(\"engine\", \"espeak-ng\")} --utterances {c[\"utterances\"]} --seed {c[\"seed\"]}')" "$corpus/corpus.json")); pass those, another --corpus, or delete it" >&2
        exit 1
    fi
    echo "== corpus: reusing $corpus"
else
    if [[ -e "$corpus" ]] && [[ -n "$(ls -A "$corpus" 2>/dev/null)" ]]; then
        echo "run.sh: $corpus exists, is not empty and has no corpus.json (an unfinished build?); delete it or pick another --corpus" >&2
        exit 1
    fi
    mkdir -p "$(dirname "$corpus")"
    if [[ $engine == espeak-ng ]]; then echo "== corpus: building $utterances utterances (+ the other-engine test set) into $corpus"
    else echo "== corpus: building $utterances $engine utterances into $corpus"; fi
    fsdd_args=()
    if [[ $engine == fsdd ]]; then
        # The Free Spoken Digit Dataset (CC BY-SA 4.0), tag v1.0.10: cloned beside the corpus unless --fsdd names a copy.
        if [[ -z $fsdd ]]; then
            fsdd="$(dirname "$corpus")/free-spoken-digit-dataset"
            [[ -d $fsdd/recordings ]] || git clone -q --depth 1 --branch v1.0.10 https://github.com/Jakobovski/free-spoken-digit-dataset "$fsdd" \
                || { echo "run.sh: could not clone the Free Spoken Digit Dataset; pass --fsdd DIR with a copy" >&2; exit 1; }
        fi
        fsdd_args=(--fsdd "$fsdd")
    fi
    python3 "$here/make_corpus.py" --out "$corpus" --engine "$engine" --utterances "$utterances" --seed "$seed" "${fsdd_args[@]+"${fsdd_args[@]}"}"
fi
python3 - "$corpus/corpus.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
for name, s in c["sets"].items():
    print(f"   {name:18} {s['utterances']:5} utt, {60 * s['hours']:5.1f} min, {s['seconds_min']}-{s['seconds_max']} s "
          f"(mean {s['seconds_mean']}), {'/'.join(str(r) for r in s['sample_rates'])} Hz, {s['engine']} {', '.join(s['voices'])}")
EOF
[[ $corpus_only == 1 ]] && exit 0

# Three columns (path, transcript, speaker) where the example reads them, else the two-column copies.
if [[ $columns == auto ]]; then
    if grep -qi 'speaker' "$repo/src/Nn/Data/TsvDataset.cs" 2>/dev/null; then columns=3; else columns=2; fi
fi
if [[ $columns == 3 ]]; then data="$corpus"; other="$corpus/other_engine"
else data="$corpus/2col"; other="$corpus/2col/other_engine"; fi

# 3. Train and evaluate.
mkdir -p "$out"
out="$(cd "$out" && pwd)"
cd "$repo"
echo "== building examples/SpeechCtc (Release)"
dotnet build -c Release examples/SpeechCtc -nologo -v q -clp:ErrorsOnly >/dev/null
run() { dotnet run -c Release --no-build --project examples/SpeechCtc -- "$@"; }

if [[ $skip_train == 1 ]]; then
    [[ -f "$out/train.log" && -f "$out/model/metrics.csv" ]] || { echo "run.sh: --skip-train needs an earlier run's $out/train.log and $out/model" >&2; exit 1; }
    wall=$(cat "$out/train_wall_s" 2>/dev/null || echo "?")
    echo "== training: skipped, using $out/model"
else
    echo "== training: --data $data --out $out/model ${extra[*]:-}  (log: $out/train.log)"
    start=$(date +%s.%N)
    run --data "$data" --out "$out/model" "${extra[@]}" 2>&1 | tee "$out/train.log" | grep --line-buffered -E '^(epoch|final|error|warning|data|model)|time budget|interrupted' || true
    rc=${PIPESTATUS[0]}
    wall=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.0f}')" "$start" "$(date +%s.%N)")
    echo "$wall" > "$out/train_wall_s"
    [[ $rc == 0 ]] || { echo "run.sh: training failed (exit $rc); see $out/train.log" >&2; tail -5 "$out/train.log" >&2; exit "$rc"; }
fi

ckpt="$out/model/best.safetensors"; [[ -f "$ckpt" ]] || ckpt="$out/model/last.safetensors"
# Options that eval understands are passed on; training-only ones are not.
evalargs=()
for ((i = 0; i < ${#extra[@]}; i++)); do
    case "${extra[$i]}" in --device|--beam|--batch-size) evalargs+=("${extra[$i]}" "${extra[$((i + 1))]:-}"); i=$((i + 1)) ;; esac
done
if [[ -f "$other/test.tsv" ]]; then
    echo "== eval on the other engine: --checkpoint $ckpt --data $other  (log: $out/eval_other_engine.log)"
    run eval --checkpoint "$ckpt" --data "$other" "${evalargs[@]}" > "$out/eval_other_engine.log" 2>&1 \
        || { echo "run.sh: eval failed; see $out/eval_other_engine.log" >&2; exit 1; }
fi

# Optional: the CER of each test voice, one eval per voice on a list of that voice's files. eval reads a train.tsv
# for the alphabet, so each view gets a few training lines that cover every character (absolute paths).
rm -f "$out/per_voice.tsv"
if [[ $per_voice == 1 ]]; then
    python3 - "$corpus" "$out/views" "$columns" <<'EOF' > "$out/views.txt"
import os, sys
corpus, views, columns = sys.argv[1], sys.argv[2], int(sys.argv[3])
def rows(name):
    p = os.path.join(corpus, name)
    if not os.path.exists(p): return []
    return [l.rstrip("\n").split("\t") for l in open(p, encoding="utf-8").readlines()[1:] if l.strip()]
train, chars, cover = rows("train.tsv"), set(), []
for r in train:
    if not set(r[1]) <= chars: cover.append(r); chars |= set(r[1])
def write(path, rs):
    with open(path, "w", encoding="utf-8") as f:
        f.write("path\ttranscript\tspeaker\n" if columns == 3 else "path\ttranscript\n")
        for r in rs: f.write("\t".join([os.path.join(corpus, r[0])] + r[1:columns]) + "\n")
for name in ["test.tsv", "test_other_engine.tsv"]:
    for spk in dict.fromkeys(r[2] for r in rows(name)):
        d = os.path.join(views, spk); os.makedirs(d, exist_ok=True)
        write(os.path.join(d, "train.tsv"), cover); write(os.path.join(d, "test.tsv"), [r for r in rows(name) if r[2] == spk])
        print(spk)
EOF
    while read -r spk; do
        echo "== eval on $spk"
        run eval --checkpoint "$ckpt" --data "$out/views/$spk" "${evalargs[@]}" > "$out/views/$spk/eval.log" 2>&1 \
            || { echo "run.sh: eval failed; see $out/views/$spk/eval.log" >&2; exit 1; }
        cer=$(sed -n 's/^final test CER: \([0-9.]*\)% (greedy), \([0-9.]*\)% (beam.*/\1\t\2/p' "$out/views/$spk/eval.log" | tail -1)
        printf '%s\t%s\n' "$spk" "$cer" >> "$out/per_voice.tsv"
    done < "$out/views.txt"
fi

# 4. Summary.
python3 - "$out" "$corpus" "$wall" "$columns" "$(basename "$ckpt")" "${extra[*]:-}" <<'EOF' | tee "$out/summary.txt"
import csv, json, os, re, sys
out, corpus, wall, columns, ckpt, extra = sys.argv[1:]
c = json.load(open(os.path.join(corpus, "corpus.json")))
def cer(log):
    p = os.path.join(out, log)
    if not os.path.exists(p): return None
    m = re.findall(r"final test CER: ([\d.]+)% \(greedy\), ([\d.]+)% \(beam", open(p, errors="replace").read())
    return m[-1] if m else None
train_log = open(os.path.join(out, "train.log"), errors="replace").read()
total = re.findall(r"total time ([\d.]+) s", train_log)
rows = list(csv.DictReader(open(os.path.join(out, "model", "metrics.csv"))))
epoch_rows = [r for r in rows if r.get("val_cer") not in (None, "")]
last = rows[-1] if rows else {}
train_s = float(last["elapsed_s"]) if last.get("elapsed_s") else float("nan")
budget = "yes" if re.search(r"time budget", train_log) else "no"
print()
print(f"speech-voices: corpus {corpus} ({c.get('engine', 'espeak-ng')}, {c['sets']['train']['utterances']} train utterances, seed {c['seed']}), "
      f"{columns}-column lists, extra args: {extra or '(none)'}")
print(f"training: {len(epoch_rows)} epochs, {last.get('global_step', '?')} steps, {train_s:.0f} s training "
      f"(program {total[-1] if total else '?'} s, wall {wall} s with loading and eval); stopped by the time budget: {budget}")
if epoch_rows:
    held = "whole held-out training speakers" if columns == "3" else "part of the training voices"
    print(f"last validation CER: {100 * float(epoch_rows[-1]['val_cer']):.2f}% (validation = {held})")
print(f"{'test set':34} {'greedy CER':>10} {'beam CER':>10}")
for name, log, s in [(f"unseen {c['sets']['test']['engine']} voices", "train.log", "test"),
                     (f"other engine ({c['sets'].get('test_other_engine', {}).get('engine', '')})", "eval_other_engine.log", "test_other_engine")]:
    if s not in c["sets"]: continue
    r = cer(log)
    voices = ", ".join(c["sets"][s]["voices"]) if s in c["sets"] else ""
    label = f"{name} [{c['sets'][s]['utterances'] if s in c['sets'] else 0}]"
    print(f"{label:34} {(r[0] + '%') if r else 'n/a':>10} {(r[1] + '%') if r else 'n/a':>10}   {voices}")
pv = os.path.join(out, "per_voice.tsv")
if os.path.exists(pv):
    print("per test voice (greedy / beam CER):")
    for line in open(pv):
        spk, g, b = (line.rstrip("\n").split("\t") + ["", ""])[:3]
        print(f"  {spk:34} {g + '%':>8} {b + '%':>8}")
if "test_other_engine" in c["sets"]:
    print(f"(checkpoint evaluated on the other engine: {ckpt}; outputs in {out})")
else:
    print(f"(outputs in {out})")
EOF
