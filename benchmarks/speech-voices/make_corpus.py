#!/usr/bin/env python3
"""Builds a multi-speaker spoken-digit-string corpus with Debian's text-to-speech engines (espeak-ng, flite).

Standard library only. Deterministic: every utterance's digits and prosody come from its own seeded generator, and
both engines are deterministic, so the same seed and version of the engines give the same files.

Layout of the corpus directory (see README.md beside this file):
  wav/<speaker>/<set>-NNNNN.wav          16-bit mono PCM at the engine's native rate (espeak-ng 22,050 Hz, flite 16 kHz)
  train.tsv test.tsv test_other_engine.tsv     path<TAB>transcript<TAB>speaker (with that header line)
  other_engine/{train,test}.tsv                the same train.tsv, and test_other_engine.tsv as test.tsv
  2col/{train,test}.tsv, 2col/other_engine/{train,test}.tsv   the same lists without the speaker column
  corpus.json                                  settings, voices, counts and durations (written last: the corpus is complete)
"""
import argparse
import array
import concurrent.futures as cf
import json
import os
import random
import shutil
import subprocess
import sys
import wave

GENERATOR_VERSION = 1
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

# espeak-ng voices are "<accent>+<variant>". The test voices use accents AND variants that no training voice uses.
TRAIN_VOICES = [
    "en-us+m1", "en-gb+f1", "en-gb-scotland+m3", "en-029+f2",
    "en-gb-x-rp+m5", "en-gb-x-gbclan+f4", "en-us+m4",
]
TEST_VOICES = ["en-gb-x-gbcwmd+f5", "en-us-nyc+m7"]
# flite's built-in voices: kal16 (diphone), awb, rms, slt (clustergen statistical voices); a different engine.
OTHER_ENGINE_VOICES = ["kal16", "awb", "rms", "slt"]


def speaker_id(engine, voice):
    return f"{engine}_{voice}"


def plan_utterance(seed, subset, index, engine, voice):
    """The digits and prosody of one utterance, from a generator seeded by (seed, subset, index) only."""
    rng = random.Random(f"{seed}:{subset}:{index}")
    digits = [rng.randrange(10) for _ in range(rng.randint(3, 8))]
    words = [WORDS[d] for d in digits]
    # Pauses: a comma after a word (a phrase break) now and then.
    text = ""
    for i, w in enumerate(words):
        text += w
        if i + 1 < len(words):
            text += ", " if rng.random() < 0.15 else " "
    p = {
        "engine": engine, "voice": voice, "transcript": "".join(str(d) for d in digits), "text": text,
        "lead_ms": rng.randint(20, 300), "trail_ms": rng.randint(20, 300), "gain": round(rng.uniform(0.35, 1.0), 3),
    }
    if engine == "espeak-ng":
        p.update(rate=rng.randint(125, 210), pitch=rng.randint(20, 80), gap=rng.randint(0, 10), amp=100)
    else:
        p.update(stretch=round(rng.uniform(0.8, 1.35), 3), f0_scale=round(rng.uniform(0.85, 1.2), 3))
    return p


def synthesize(p, path):
    """Runs the engine, then pads with silence and scales; returns the duration in seconds."""
    tmp = path + ".raw.wav"
    if p["engine"] == "espeak-ng":
        cmd = ["espeak-ng", "-v", p["voice"], "-s", str(p["rate"]), "-p", str(p["pitch"]), "-g", str(p["gap"]),
               "-a", str(p["amp"]), "-w", tmp, p["text"]]
    else:
        base_f0 = {"kal16": 105, "awb": 110, "rms": 95, "slt": 160}[p["voice"]]
        cmd = ["flite", "-voice", p["voice"], "--setf", f"duration_stretch={p['stretch']}",
               "--setf", f"int_f0_target_mean={round(base_f0 * p['f0_scale'])}", "-t", p["text"], "-o", tmp]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with wave.open(tmp, "rb") as w:
        rate, ch, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        if ch != 1 or width != 2:
            raise RuntimeError(f"{cmd[0]} wrote {ch} channels of {8 * width} bits; expected 16-bit mono")
        samples = array.array("h", w.readframes(w.getnframes()))
    os.remove(tmp)
    if sys.byteorder != "little":
        samples.byteswap()
    # Loudness: scale so the peak is `gain` of full scale.
    peak = max(1, max(abs(s) for s in samples))
    k = p["gain"] * 32767 / peak
    scaled = array.array("h", (int(round(s * k)) for s in samples))
    lead = array.array("h", bytes(2 * (rate * p["lead_ms"] // 1000)))
    trail = array.array("h", bytes(2 * (rate * p["trail_ms"] // 1000)))
    out = lead + scaled + trail
    if sys.byteorder != "little":
        out.byteswap()
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(out.tobytes())
    return len(out) / rate, rate


def engine_version(package):
    """The Debian package version, e.g. 1.51+dfsg-10+deb12u2."""
    try:
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True)
        return r.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="corpus directory (created; must not exist or be empty)")
    ap.add_argument("--utterances", type=int, default=1000,
                    help="espeak-ng utterances, train + test (80/20); the flite test set adds 20%% more (default 1000)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    if a.utterances < 20:
        ap.error("--utterances must be at least 20")

    n_test = round(a.utterances * 0.2)
    n_train = a.utterances - n_test
    n_other = n_test
    subsets = []  # (subset name, engine, voices, count)
    subsets.append(("train", "espeak-ng", TRAIN_VOICES, n_train))
    subsets.append(("test", "espeak-ng", TEST_VOICES, n_test))
    if shutil.which("flite"):
        subsets.append(("test_other_engine", "flite", OTHER_ENGINE_VOICES, n_other))
    else:
        print("make_corpus: flite is not installed; no test_other_engine.tsv", file=sys.stderr)

    tmpdir = a.out.rstrip("/") + f".building-{os.getpid()}"
    os.makedirs(tmpdir)
    jobs = []  # (subset, index, plan, relative path)
    for subset, engine, voices, count in subsets:
        for i in range(count):
            voice = voices[i % len(voices)]  # voices take turns: balanced speakers
            p = plan_utterance(a.seed, subset, i, engine, voice)
            spk = speaker_id(engine, voice)
            rel = f"wav/{spk}/{subset}-{i:05d}.wav"
            os.makedirs(os.path.join(tmpdir, os.path.dirname(rel)), exist_ok=True)
            jobs.append((subset, i, p, rel, spk))

    results = {}
    with cf.ThreadPoolExecutor(max_workers=a.jobs) as ex:
        futures = {ex.submit(synthesize, j[2], os.path.join(tmpdir, j[3])): j for j in jobs}
        done = 0
        for f in cf.as_completed(futures):
            j = futures[f]
            results[(j[0], j[1])] = f.result()
            done += 1
            if done % 200 == 0 or done == len(jobs):
                print(f"  synthesized {done}/{len(jobs)}", flush=True)

    # Lists. train.tsv is shuffled (deterministically) so that the current example's validation split (the last
    # tenth of train.tsv) mixes the training voices instead of taking most of one voice out of training.
    rows = {}
    for subset, _, _, _ in subsets:
        rows[subset] = [(j[3], j[2]["transcript"], j[4]) for j in jobs if j[0] == subset]
    random.Random(f"{a.seed}:shuffle").shuffle(rows["train"])

    def write(path, rs, three, prefix=""):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write("path\ttranscript\tspeaker\n" if three else "path\ttranscript\n")
            for rel, tr, spk in rs:
                f.write(f"{prefix}{rel}\t{tr}\t{spk}\n" if three else f"{prefix}{rel}\t{tr}\n")

    for subset in rows:
        write(os.path.join(tmpdir, f"{subset}.tsv"), rows[subset], True)
    write(os.path.join(tmpdir, "2col", "train.tsv"), rows["train"], False, "../")
    write(os.path.join(tmpdir, "2col", "test.tsv"), rows["test"], False, "../")
    if "test_other_engine" in rows:
        write(os.path.join(tmpdir, "other_engine", "train.tsv"), rows["train"], True, "../")
        write(os.path.join(tmpdir, "other_engine", "test.tsv"), rows["test_other_engine"], True, "../")
        write(os.path.join(tmpdir, "2col", "other_engine", "train.tsv"), rows["train"], False, "../../")
        write(os.path.join(tmpdir, "2col", "other_engine", "test.tsv"), rows["test_other_engine"], False, "../../")

    summary = {"generator_version": GENERATOR_VERSION, "seed": a.seed, "utterances": a.utterances,
               "engines": {"espeak-ng": engine_version("espeak-ng"),
                           "flite": engine_version("flite") if shutil.which("flite") else None},
               "sets": {}}
    for subset, engine, voices, count in subsets:
        durs = [results[(subset, i)][0] for i in range(count)]
        rates = sorted({results[(subset, i)][1] for i in range(count)})
        lens = [len(r[1]) for r in rows[subset]]
        summary["sets"][subset] = {
            "engine": engine, "voices": voices, "speakers": [speaker_id(engine, v) for v in voices],
            "utterances": count, "sample_rates": rates, "hours": round(sum(durs) / 3600, 4),
            "seconds_min": round(min(durs), 2), "seconds_mean": round(sum(durs) / len(durs), 2),
            "seconds_max": round(max(durs), 2), "digits_mean": round(sum(lens) / len(lens), 2)}
    with open(os.path.join(tmpdir, "corpus.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    if os.path.isdir(a.out):
        os.rmdir(a.out)  # only an empty directory may be replaced
    os.rename(tmpdir, a.out)
    print(json.dumps(summary["sets"], indent=None))


if __name__ == "__main__":
    main()
