#!/usr/bin/env python3
"""Builds a multi-speaker spoken-digit-string corpus with Debian's text-to-speech engines (espeak-ng, flite, festival;
RHVoice, Pico and MBROLA from the contrib and non-free components).

Standard library only. Deterministic: every utterance's digits and prosody come from its own seeded generator, and
the engines are deterministic, so the same seed, --engine and version of the engines give the same files.

--engine picks where the training AND test voices come from (test voices never in training):
  espeak-ng (default)  train on 7 espeak-ng voices, test on 2 others, plus a flite test set (test_other_engine.tsv)
  flite                train on flite kal16, kal (8 kHz), rms, slt; test on flite awb
  festival             train on festival kal_diphone, cmu_us_slt_arctic_hts; test on festival ked_diphone
  mixed                train on the flite and festival training voices above; test on flite awb and festival
                       ked_diphone (speakers that no training voice of either engine has)
  many                 four engines from Debian's contrib and non-free components, 14 speakers: train on RHVoice
                       alan, clb, slt, evgeniy-eng, lyubov, Pico en-US, MBROLA en1, us2, us3 and festival don_diphone;
                       test on RHVoice bdl, Pico en-GB, MBROLA us1 and festival rab_diphone
  rhvoice              one engine of those, as in issue 13's report (a few training voices, two unseen ones): train on
                       RHVoice alan, clb, slt, evgeniy-eng; test on RHVoice bdl and lyubov
  fsdd                 people, not an engine: digit strings joined from the Free Spoken Digit Dataset's recordings of
                       single digits (--fsdd DIR, a checkout of v1.0.10; six men, 8 kHz): train on george, lucas,
                       theo, yweweler; test on jackson and nicolas

Layout of the corpus directory (see README.md beside this file):
  wav/<speaker>/<set>-NNNNN.wav          16-bit mono PCM at the voice's native rate (espeak-ng 22,050 Hz, flite 16 kHz
                                         but kal 8 kHz, festival diphones 16 kHz, festival slt HTS 32 kHz)
  train.tsv test.tsv test_other_engine.tsv     path<TAB>transcript<TAB>speaker (with that header line)
  other_engine/{train,test}.tsv                the same train.tsv, and test_other_engine.tsv as test.tsv (espeak-ng only)
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

# The other corpora (--engine): (engine, voice) pairs. Debian 12 ships five flite voices that speak digits (kal, kal16,
# awb, rms, slt; awb_time only tells the time) and three English festival voices (festvox-kallpc16k,
# festvox-kdlpc16k, festvox-us-slt-hts; the 8 kHz kal/ked packages are the same recordings). Four speakers in flite
# (kal and kal16 are one), three in festival; flite slt and festival cmu_us_slt_arctic_hts are the same speaker
# (CMU ARCTIC slt), as are flite kal16 and festival kal_diphone. So the test speakers are held out of training in
# every engine: awb (Scottish male, flite clustergen) and ked (US male, festival diphone).
FLITE_TRAIN = [("flite", "kal16"), ("flite", "kal"), ("flite", "rms"), ("flite", "slt")]
FLITE_TEST = [("flite", "awb")]
FESTIVAL_TRAIN = [("festival", "kal_diphone"), ("festival", "cmu_us_slt_arctic_hts")]
FESTIVAL_TEST = [("festival", "ked_diphone")]
# Debian's contrib and non-free components have more: RHVoice (rhvoice-english: alan, i.e. CMU ARCTIC awb; bdl; clb;
# slt; evgeniy-eng and lyubov, Russian speakers of English), SVOX Pico (libttspico-utils: en-US, en-GB), MBROLA's
# English diphone voices spoken through espeak-ng (mbrola-en1, -us1, -us2, -us3) and festival's don and rab diphone
# voices (festvox-don, festvox-rablpc16k): 14 speakers of four engines the recipe was not tuned on. One test speaker
# of each engine, never in training.
MANY_TRAIN = [("rhvoice", "alan"), ("rhvoice", "clb"), ("rhvoice", "slt"), ("rhvoice", "evgeniy-eng"),
              ("rhvoice", "lyubov"), ("pico", "en-US"), ("mbrola", "en1"), ("mbrola", "us2"), ("mbrola", "us3"),
              ("festival", "don_diphone")]
MANY_TEST = [("rhvoice", "bdl"), ("pico", "en-GB"), ("mbrola", "us1"), ("festival", "rab_diphone")]
# RHVoice alone: its six English voices, two of them (a man and a woman) held out for testing.
RHVOICE_TRAIN = [("rhvoice", "alan"), ("rhvoice", "clb"), ("rhvoice", "slt"), ("rhvoice", "evgeniy-eng")]
RHVOICE_TEST = [("rhvoice", "bdl"), ("rhvoice", "lyubov")]
# People: the Free Spoken Digit Dataset (github.com/Jakobovski/free-spoken-digit-dataset, v1.0.10, CC BY-SA 4.0),
# 50 recordings of each digit by each of six men (8 kHz, trimmed), joined into digit strings. Its metadata gives the
# accents: jackson and theo USA, nicolas Belgian French, yweweler and lucas German, george Greek.
FSDD_TRAIN = [("fsdd", "george"), ("fsdd", "lucas"), ("fsdd", "theo"), ("fsdd", "yweweler")]
FSDD_TEST = [("fsdd", "jackson"), ("fsdd", "nicolas")]
FSDD_TAKES = 50  # recordings of each digit by each speaker: recordings/<digit>_<speaker>_<0..49>.wav
ENGINE_SETS = {  # --engine -> (train voices, test voices)
    "flite": (FLITE_TRAIN, FLITE_TEST),
    "festival": (FESTIVAL_TRAIN, FESTIVAL_TEST),
    "mixed": (FLITE_TRAIN + FESTIVAL_TRAIN, FLITE_TEST + FESTIVAL_TEST),
    "many": (MANY_TRAIN, MANY_TEST),
    "rhvoice": (RHVOICE_TRAIN, RHVOICE_TEST),
    "fsdd": (FSDD_TRAIN, FSDD_TEST),
}
# The program each engine runs (MBROLA through espeak-ng, which also needs the mbrola program).
PROGRAMS = {"espeak-ng": ["espeak-ng"], "flite": ["flite"], "festival": ["festival"], "rhvoice": ["RHVoice-test"],
            "pico": ["pico2wave"], "mbrola": ["espeak-ng", "mbrola"], "fsdd": []}
# The festival voices' packages, recorded in corpus.json.
FESTIVAL_PACKAGES = {"kal_diphone": "festvox-kallpc16k", "ked_diphone": "festvox-kdlpc16k",
                     "cmu_us_slt_arctic_hts": "festvox-us-slt-hts", "don_diphone": "festvox-don",
                     "rab_diphone": "festvox-rablpc16k"}
ENGINES = ["espeak-ng"] + list(ENGINE_SETS)
# The voices' own mean F0 (Hz), which the pitch variation scales: flite's int_f0_target_mean defaults and the
# diphone voices' int_lr_params target_f0_mean.
BASE_F0 = {("flite", "kal16"): 105, ("flite", "kal"): 105, ("flite", "awb"): 110, ("flite", "rms"): 95,
           ("flite", "slt"): 160, ("festival", "kal_diphone"): 105, ("festival", "ked_diphone"): 105,
           ("festival", "don_diphone"): 135, ("festival", "rab_diphone"): 105}
FESTIVAL_F0_STD = {"kal_diphone": 14, "ked_diphone": 15, "don_diphone": 30, "rab_diphone": 14}


def speaker_id(engine, voice):
    return f"{engine}_{voice}"


def _digits_and_delivery(rng, engine, voice):
    """The digits, the words spoken (with a comma, a phrase break, now and then), silences and level: the draws every
    utterance starts with, in this order."""
    digits = [rng.randrange(10) for _ in range(rng.randint(3, 8))]
    words = [WORDS[d] for d in digits]
    text = ""
    for i, w in enumerate(words):
        text += w
        if i + 1 < len(words):
            text += ", " if rng.random() < 0.15 else " "
    return {
        "engine": engine, "voice": voice, "transcript": "".join(str(d) for d in digits), "text": text,
        "lead_ms": rng.randint(20, 300), "trail_ms": rng.randint(20, 300), "gain": round(rng.uniform(0.35, 1.0), 3),
    }


def plan_utterance(seed, subset, index, engine, voice):
    """The digits and prosody of one utterance, from a generator seeded by (seed, subset, index) only."""
    rng = random.Random(f"{seed}:{subset}:{index}")
    p = _digits_and_delivery(rng, engine, voice)
    if engine == "espeak-ng":
        p.update(rate=rng.randint(125, 210), pitch=rng.randint(20, 80), gap=rng.randint(0, 10), amp=100)
    else:
        p.update(stretch=round(rng.uniform(0.8, 1.35), 3), f0_scale=round(rng.uniform(0.85, 1.2), 3))
    return p


def plan_utterance_other(seed, corpus_engine, subset, index, engine, voice):
    """The same for the --engine flite/festival/mixed corpora: a generator seeded by (seed, --engine, subset, index),
    and wider prosody than the espeak-ng corpus's flite test set, so that a few voices give varied training data:
    duration stretch 0.75-1.45 (all voices), mean F0 0.8-1.5 x the voice's own (not festival's HTS voice, whose F0
    comes from its own model)."""
    rng = random.Random(f"{seed}:{corpus_engine}:{subset}:{index}")
    p = _digits_and_delivery(rng, engine, voice)
    if engine == "fsdd":  # which recording of each digit, and the gap after each word (longer at a comma)
        p.update(takes=[rng.randrange(FSDD_TAKES) for _ in p["transcript"]],
                 gaps_ms=[rng.randint(250, 450) if w.endswith(",") else rng.randint(20, 120) for w in p["text"].split()][:-1])
    else:
        p.update(stretch=round(rng.uniform(0.75, 1.45), 3), f0_scale=round(rng.uniform(0.8, 1.5), 3))
    return p


def join_recordings(p, tmp):
    """An FSDD utterance: the speaker's recordings of its digits (from the folder p["recordings"]), each scaled to the
    same peak, with the planned silences between them, written to tmp (finish then pads and scales it like an engine's output)."""
    out, rate = array.array("h"), None
    for i, (digit, take) in enumerate(zip(p["transcript"], p["takes"])):
        x, r = read_wav(os.path.join(p["recordings"], f"{digit}_{p['voice']}_{take}.wav"), "fsdd")
        if rate is not None and r != rate:
            raise RuntimeError(f"fsdd: {p['voice']}'s recordings at {rate} and {r} Hz; expected one rate")
        rate = r
        out += scaled(x, 0.9)
        if i < len(p["gaps_ms"]):
            out += silence(rate, p["gaps_ms"][i])
    write_wav(tmp, out, rate)


def read_wav(path, program):
    """The samples and rate of a 16-bit mono WAV file."""
    with wave.open(path, "rb") as w:
        rate, ch, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        if ch != 1 or width != 2:
            raise RuntimeError(f"{program} wrote {ch} channels of {8 * width} bits ({path}); expected 16-bit mono")
        samples = array.array("h", w.readframes(w.getnframes()))
    if sys.byteorder != "little":
        samples.byteswap()
    return samples, rate


def write_wav(path, samples, rate):
    """Writes 16-bit mono samples as a WAV file."""
    out = array.array("h", samples)
    if sys.byteorder != "little":
        out.byteswap()
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(out.tobytes())


def scaled(samples, gain):
    """The samples scaled so that the peak is `gain` of full scale."""
    k = gain * 32767 / max(1, max(abs(s) for s in samples))
    return array.array("h", (int(round(s * k)) for s in samples))


def silence(rate, ms):
    """`ms` milliseconds of digital silence."""
    return array.array("h", bytes(2 * (rate * ms // 1000)))


def festival_commands(p, tmp):
    """Scheme for one utterance in a festival --batch script (all varied settings set each time: no state leaks)."""
    text = p["text"].replace("\\", "").replace('"', "")
    if p["voice"] == "cmu_us_slt_arctic_hts":
        # hts_engine's -r is a speed factor: the inverse of a duration stretch.
        setup = f'(set! hts_engine_params (append base_hts_params (list (list "-r" {round(1 / p["stretch"], 4)}))))'
    else:
        f0 = round(BASE_F0[("festival", p["voice"])] * p["f0_scale"])
        setup = (f"(Parameter.set 'Duration_Stretch {p['stretch']})\n"
                 f"(set! int_lr_params '((target_f0_mean {f0}) (target_f0_std {FESTIVAL_F0_STD[p['voice']]}) "
                 f"(model_f0_mean 170) (model_f0_std 34)))")
    return f'{setup}\n(utt.save.wave (utt.synth (Utterance Text "{text}")) "{tmp}" \'riff)\n'


def synthesize_festival(batch):
    """One festival process for a batch of (plan, path) of one voice (festival takes ~1 s to start and load a
    voice); returns [(seconds, rate)]."""
    voice = batch[0][0]["voice"]
    assert all(p["voice"] == voice for p, _ in batch)
    script = batch[0][1] + ".batch.scm"
    with open(script, "w") as f:
        f.write(f"(voice_{voice})\n")
        if voice == "cmu_us_slt_arctic_hts":
            f.write("(set! base_hts_params hts_engine_params)\n")
        for p, path in batch:
            f.write(festival_commands(p, path + ".raw.wav"))
    r = subprocess.run(["festival", "--batch", script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    missing = [path for _, path in batch if not os.path.exists(path + ".raw.wav")]
    if r.returncode != 0 or missing:
        raise RuntimeError(f"festival failed on {script} (exit {r.returncode}, {len(missing)} files missing): "
                           f"{r.stderr.strip()[-500:]}")
    os.remove(script)
    return [finish(p, path + ".raw.wav", path, "festival") for p, path in batch]


def synthesize(p, path):
    """Runs the engine, then pads with silence and scales; returns the duration in seconds."""
    tmp = path + ".raw.wav"
    text_in = None
    if p["engine"] == "espeak-ng":
        cmd = ["espeak-ng", "-v", p["voice"], "-s", str(p["rate"]), "-p", str(p["pitch"]), "-g", str(p["gap"]),
               "-a", str(p["amp"]), "-w", tmp, p["text"]]
    elif p["engine"] == "flite":
        base_f0 = BASE_F0[("flite", p["voice"])]
        cmd = ["flite", "-voice", p["voice"], "--setf", f"duration_stretch={p['stretch']}",
               "--setf", f"int_f0_target_mean={round(base_f0 * p['f0_scale'])}", "-t", p["text"], "-o", tmp]
    elif p["engine"] == "rhvoice":  # rate and pitch in percent of the voice's own; the text on stdin
        cmd = ["RHVoice-test", "-p", p["voice"], "-r", str(round(100 / p["stretch"])),
               "-t", str(round(100 * p["f0_scale"])), "-o", tmp]
        text_in = p["text"]
    elif p["engine"] == "pico":  # speed and pitch in percent, as Pico's own markup
        speed, pitch = round(100 / p["stretch"]), round(100 * p["f0_scale"])
        cmd = ["pico2wave", "-l", p["voice"], "-w", tmp,
               f'<speed level="{speed}"><pitch level="{pitch}">{p["text"]}</pitch></speed>']
    elif p["engine"] == "mbrola":  # espeak-ng's rate (words/min, 175 its default) and pitch (0-99, 50 its default)
        cmd = ["espeak-ng", "-v", "mb-" + p["voice"], "-s", str(round(175 / p["stretch"])),
               "-p", str(min(99, round(50 * p["f0_scale"]))), "-w", tmp, p["text"]]
    elif p["engine"] == "fsdd":
        join_recordings(p, tmp)
        return finish(p, tmp, path, "fsdd")
    else:
        raise ValueError(f"synthesize: engine {p['engine']} runs in batches (synthesize_festival)")
    subprocess.run(cmd, check=True, input=text_in, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return finish(p, tmp, path, cmd[0])


def finish(p, tmp, path, program):
    """Scales the engine's output `tmp` to the planned peak, pads it with the planned silences, writes `path`."""
    samples, rate = read_wav(tmp, program)
    os.remove(tmp)
    # Loudness: scale so the peak is `gain` of full scale.
    out = silence(rate, p["lead_ms"]) + scaled(samples, p["gain"]) + silence(rate, p["trail_ms"])
    write_wav(path, out, rate)
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
                    help="utterances, train + test (80/20); for espeak-ng the flite test set adds 20%% more "
                         "(default 1000)")
    ap.add_argument("--engine", choices=ENGINES, default="espeak-ng",
                    help="where the training and test voices come from (default espeak-ng; see above)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--fsdd", help="for --engine fsdd: a checkout of the Free Spoken Digit Dataset (its recordings/ "
                                   "folder; run.sh clones tag v1.0.10)")
    a = ap.parse_args()
    if a.utterances < 20:
        ap.error("--utterances must be at least 20")
    if a.fsdd is not None and a.engine != "fsdd":
        ap.error(f"--fsdd is for --engine fsdd only, not --engine {a.engine}")

    n_test = round(a.utterances * 0.2)
    n_train = a.utterances - n_test
    n_other = n_test
    subsets = []  # (subset name, [(engine, voice)], count)
    if a.engine == "espeak-ng":
        subsets.append(("train", [("espeak-ng", v) for v in TRAIN_VOICES], n_train))
        subsets.append(("test", [("espeak-ng", v) for v in TEST_VOICES], n_test))
        if shutil.which("flite"):
            subsets.append(("test_other_engine", [("flite", v) for v in OTHER_ENGINE_VOICES], n_other))
        else:
            print("make_corpus: flite is not installed; no test_other_engine.tsv", file=sys.stderr)
    else:
        train, test = ENGINE_SETS[a.engine]
        subsets.append(("train", train, n_train))
        subsets.append(("test", test, n_test))
    if a.engine == "fsdd":
        if not a.fsdd or not os.path.isfile(os.path.join(a.fsdd, "recordings", "0_jackson_0.wav")):
            sys.exit(f"make_corpus: --engine fsdd needs --fsdd DIR, a checkout of the Free Spoken Digit Dataset with "
                     f"recordings/0_jackson_0.wav; got {a.fsdd!r}")
    needed = sorted({e for _, voices, _ in subsets for e, _ in voices})
    for e in needed:
        for program in PROGRAMS[e]:
            if not shutil.which(program):
                sys.exit(f"make_corpus: {program} (engine {e}) is not installed (run.sh installs it; see README.md)")

    tmpdir = a.out.rstrip("/") + f".building-{os.getpid()}"
    os.makedirs(tmpdir)
    jobs = []  # (subset, index, plan, relative path, speaker)
    for subset, voices, count in subsets:
        for i in range(count):
            engine, voice = voices[i % len(voices)]  # voices take turns: balanced speakers
            if a.engine == "espeak-ng":
                p = plan_utterance(a.seed, subset, i, engine, voice)
            else:
                p = plan_utterance_other(a.seed, a.engine, subset, i, engine, voice)
            if engine == "fsdd":
                p["recordings"] = os.path.join(a.fsdd, "recordings")
            spk = speaker_id(engine, voice)
            rel = f"wav/{spk}/{subset}-{i:05d}.wav"
            os.makedirs(os.path.join(tmpdir, os.path.dirname(rel)), exist_ok=True)
            jobs.append((subset, i, p, rel, spk))

    # Work items: one utterance for espeak-ng and flite; festival in batches of up to 25 utterances of one voice.
    items, batches = [], {}
    for j in jobs:
        if j[2]["engine"] == "festival":
            batches.setdefault(j[2]["voice"], []).append(j)
        else:
            items.append([j])
    for voice, js in batches.items():
        items += [js[k:k + 25] for k in range(0, len(js), 25)]

    def run_item(js):
        if js[0][2]["engine"] == "festival":
            return synthesize_festival([(j[2], os.path.join(tmpdir, j[3])) for j in js])
        return [synthesize(js[0][2], os.path.join(tmpdir, js[0][3]))]

    results = {}
    with cf.ThreadPoolExecutor(max_workers=a.jobs) as ex:
        futures = {ex.submit(run_item, it): it for it in items}
        done = 0
        for f in cf.as_completed(futures):
            for j, r in zip(futures[f], f.result()):
                results[(j[0], j[1])] = r
                done += 1
                if done % 200 == 0 or done == len(jobs):
                    print(f"  synthesized {done}/{len(jobs)}", flush=True)

    # Lists. train.tsv is shuffled (deterministically) so that the current example's validation split (the last
    # tenth of train.tsv) mixes the training voices instead of taking most of one voice out of training.
    rows = {}
    for subset, _, _ in subsets:
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

    summary = {"generator_version": GENERATOR_VERSION, "seed": a.seed, "utterances": a.utterances}
    if a.engine == "espeak-ng":  # (the espeak-ng corpus.json as before the other engines came)
        summary["engines"] = {"espeak-ng": engine_version("espeak-ng"),
                              "flite": engine_version("flite") if shutil.which("flite") else None}
    else:
        summary["engine"] = a.engine
        packages = {"rhvoice": ["rhvoice", "rhvoice-english"], "pico": ["libttspico-utils"],
                    "mbrola": ["mbrola"] + [f"mbrola-{v}" for _, vs, _ in subsets for e, v in vs if e == "mbrola"],
                    "fsdd": []}
        summary["engines"] = {}
        if a.engine == "fsdd":  # the dataset's version where the folder is a git checkout (run.sh clones v1.0.10)
            try:
                r = subprocess.run(["git", "-C", a.fsdd, "describe", "--tags"], capture_output=True, text=True)
                summary["engines"]["free-spoken-digit-dataset"] = r.stdout.strip() or "unknown"
            except OSError:  # no git
                summary["engines"]["free-spoken-digit-dataset"] = "unknown"
        for e in needed:
            for pkg in packages.get(e, [e]):
                summary["engines"][pkg] = engine_version(pkg)
        for _, voices, _ in subsets:
            for e, v in voices:
                if e == "festival":
                    summary["engines"][FESTIVAL_PACKAGES[v]] = engine_version(FESTIVAL_PACKAGES[v])
    summary["sets"] = {}
    for subset, voices, count in subsets:
        durs = [results[(subset, i)][0] for i in range(count)]
        rates = sorted({results[(subset, i)][1] for i in range(count)})
        lens = [len(r[1]) for r in rows[subset]]
        summary["sets"][subset] = {
            "engine": "+".join(dict.fromkeys(e for e, _ in voices)), "voices": [v for _, v in voices],
            "speakers": [speaker_id(e, v) for e, v in voices],
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
