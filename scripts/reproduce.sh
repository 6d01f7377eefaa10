#!/bin/sh
# Regenerates docs/reproduce.md: the MiCRo comparison tables (the paper's
# Table 2, Fig. 4 and Fig. 5) on synthetic data shaped like its RPR setting,
# with every command it ran. Usage:
#   scripts/reproduce.sh [path/to/microrm] [output.md]
# Environment: N (training pairs, default 80000), EPOCHS (default 30),
# WORK (scratch directory, default a fresh mktemp -d, removed at the end
# unless KEEP=1), TABLES_ONLY=1 (with KEEP'd WORK: only rewrite the markdown).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MICRORM=${1:-$ROOT/build/microrm}
OUT=${2:-$ROOT/docs/reproduce.md}
N=${N:-80000}
EPOCHS=${EPOCHS:-30}
D=256
K=10
A=10
SEED=1
[ -x "$MICRORM" ] || { echo "reproduce: $MICRORM is not an executable (build first: ninja -C build)" >&2; exit 2; }
WORK=${WORK:-$(mktemp -d /tmp/microrm-reproduce.XXXXXX)}
mkdir -p "$WORK"
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT
export OPENBLAS_NUM_THREADS=1
LOG="$WORK/commands.log"
T0=$(date +%s)
if [ "${TABLES_ONLY:-0}" != 1 ]; then
: >"$LOG"

run() {  # run CMD... ; logs the command (with the binary shown as `microrm`)
    echo "microrm $*" | sed "s|$WORK|\$WORK|g" >>"$LOG"
    "$MICRORM" "$@"
}

DATA="--d $D --heads $K --attributes $A --topics 20 --concentration 8 --reversal 0.1 --context-strength 3"
run synth --out "$WORK/data" --n "$N" $DATA --seed $SEED >"$WORK/synth.txt"
TRAIN="$WORK/data/train.safetensors"
TEST="$WORK/data/test.safetensors"
COMMON="--data $TRAIN --epochs $EPOCHS --seed $SEED --quiet"

# Stage 1: baselines and MiCRo (the DESIGN loss, and the batch-level regulariser)
run train $COMMON --out "$WORK/single.st" --baseline single >/dev/null
run train $COMMON --out "$WORK/static.st" --baseline static --heads $K >/dev/null
run train $COMMON --out "$WORK/shared.st" --baseline shared-base --heads $K >/dev/null
run train $COMMON --out "$WORK/micro_ex.st" --heads $K >/dev/null
run train $COMMON --out "$WORK/micro.st" --heads $K --reg batch >/dev/null
for m in single static shared micro_ex micro; do
    run eval --model "$WORK/$m.st" --data "$TEST" --json >"$WORK/$m.json"
done

# Stage 2 with B = 50 examples per attribute (context rows of the training split)
for m in micro_ex micro; do
    run adapt --model "$WORK/$m.st" --data "$TRAIN" --out "$WORK/${m}_b50.st" --budget 50 --seed $SEED --quiet >/dev/null
    run eval --model "$WORK/${m}_b50.st" --data "$TEST" --json >"$WORK/${m}_b50.json"
done
# The stage-1 router as the starting point instead of uniform weights
run adapt --model "$WORK/micro.st" --data "$TRAIN" --out "$WORK/micro_b50_s1.st" --budget 50 --seed $SEED --init stage1 --quiet >/dev/null
run eval --model "$WORK/micro_b50_s1.st" --data "$TEST" --json >"$WORK/micro_b50_s1.json"

# Fig. 4: routed accuracy against the budget B (3 draws of the examples)
for b in 5 10 25 50 100 150; do
    for s in 1 2 3; do
        run adapt --model "$WORK/micro.st" --data "$TRAIN" --out "$WORK/b$b-$s.st" --budget $b --seed $s --quiet >/dev/null
        run eval --model "$WORK/b$b-$s.st" --data "$TEST" --json >"$WORK/b$b-$s.json"
    done
done

# Fig. 5: against the number of heads K
for k in 1 2 5 10 15 20; do
    if [ $k -eq $K ]; then cp "$WORK/micro.st" "$WORK/k$k.st"; else
        run train $COMMON --out "$WORK/k$k.st" --heads $k --reg batch >/dev/null; fi
    run eval --model "$WORK/k$k.st" --data "$TEST" --json >"$WORK/k$k.json"
    run adapt --model "$WORK/k$k.st" --data "$TRAIN" --out "$WORK/k$k-b50.st" --budget 50 --seed $SEED --quiet >/dev/null
    run eval --model "$WORK/k$k-b50.st" --data "$TEST" --json >"$WORK/k$k-b50.json"
done
# The MLP router (H = 128), stage 1 and B = 50
run train $COMMON --out "$WORK/mlp.st" --heads $K --reg batch --router mlp >/dev/null
run eval --model "$WORK/mlp.st" --data "$TEST" --json >"$WORK/mlp.json"
run adapt --model "$WORK/mlp.st" --data "$TRAIN" --out "$WORK/mlp_b50.st" --budget 50 --seed $SEED --quiet >/dev/null
run eval --model "$WORK/mlp_b50.st" --data "$TEST" --json >"$WORK/mlp_b50.json"

T1=$(date +%s)
echo $((T1 - T0)) >"$WORK/wall_seconds"
fi
CPU=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //' || echo unknown)
python3 - "$WORK" "$OUT" "$N" "$EPOCHS" "$(cat "$WORK/wall_seconds")" "$CPU" "$LOG" <<'PY'
import json, re, statistics, sys
work, out, n, epochs, secs, cpu, log = sys.argv[1:8]
def load(name):
    with open(f"{work}/{name}.json") as f:
        return json.load(f)
def pct(x):
    return f"{100 * x:.1f}"
synth = open(f"{work}/synth.txt").read()
bayes = dict(re.findall(r"(\w+)=([0-9.]+)", synth.split("per attribute (knowing it):")[1]))
bayes_ctx = re.search(r"([0-9.]+) knowing the attribute", synth).group(1)
bayes_prompt = re.search(r"([0-9.]+) knowing only the prompt", synth).group(1)

single, static, shared = load("single"), load("static"), load("shared")
mex, mic = load("micro_ex"), load("micro")
mex50, mic50, mic50s1 = load("micro_ex_b50"), load("micro_b50"), load("micro_b50_s1")
mlp, mlp50 = load("mlp"), load("mlp_b50")

L = []
w = L.append
w("# Reproducing the MiCRo comparisons on synthetic data")
w("")
w("Generated by `scripts/reproduce.sh` (do not edit by hand). Synthetic data shaped")
w("like the paper's RPR setting: 10 attributes (criteria) over K* = 10 Bradley-Terry")
w("subpopulations with orthonormal reward directions in d = 256, prompts from 20")
w("topics each dominated by a few attributes, 10% of pairs as reversed twins (the same")
w("prompt and responses, opposite preferences under two criteria), and a context")
w("embedding that reveals the attribute. See `core/synth.h` for the generative model.")
w("")
w(f"- training pairs: {n}, test pairs: {int(n) // 4}; {epochs} epochs of stage 1, batch 32, lr 2e-3, cosine, 5% warm-up")
w(f"- Bayes-optimal test accuracy of the generating model: **{pct(float(bayes_ctx))}** knowing the attribute, {pct(float(bayes_prompt))} knowing only the prompt")
w(f"- machine: {cpu}; one BLAS thread; total wall time {secs} s")
w("")
w("Accuracy is the % of test pairs whose chosen response the model prefers")
w("(P(chosen > rejected) > 0.5), per attribute, and their mean in the last row.")
w("")
w("## Table 1 (the paper's Table 2): methods per attribute")
w("")
w("- *Single*: one BT head (`--baseline single`). *Static*: K = 10 heads, input-independent")
w("  weights (`--baseline static`). *Shared-base*: K = 10 heads, uniform weights, per-head BT")
w("  losses (`--baseline shared-base`).")
w("- *MiCRo-1*: stage 1 (`--reg batch`), mixture routed on the prompt. *Best head*: the best")
w("  single head of that model per attribute (an oracle choice; the paper's upper reference).")
w("- *MiCRo-2*: stage 2 with B = 50 context examples per attribute, mixture routed on the context.")
w("")
w("| attribute | Single | Static | Shared-base | MiCRo-1 | Best head | MiCRo-2 (B=50) | Bayes |")
w("|---|---:|---:|---:|---:|---:|---:|---:|")
for i, row in enumerate(mic["rows"]):
    a = row["attribute"]
    b = bayes.get(a)
    cells = [pct(single["rows"][i]["routed"]), pct(static["rows"][i]["routed"]), pct(shared["rows"][i]["routed"]),
             pct(row["prompt_routed"]), pct(row["best_head"]), pct(mic50["rows"][i]["routed"])]
    if row["summary"]:
        bb = pct(sum(float(v) for v in bayes.values()) / len(bayes))
        w(f"| **{a}** | " + " | ".join(f"**{c}**" for c in cells) + f" | **{bb}** |")
    else:
        w(f"| {a} | " + " | ".join(cells) + f" | {pct(float(b))} |")
w("")
avg = lambda r: r["rows"][-1]
w("## Table 2: variants (mean over attributes)")
w("")
w("| model | static mixture | routed on prompt | best head | routed on context, B = 50 |")
w("|---|---:|---:|---:|---:|")
w(f"| Static baseline (`--baseline static`, K = 10) | {pct(avg(static)['static'])} | {pct(avg(static)['prompt_routed'])} | {pct(avg(static)['best_head'])} | |")
w(f"| MiCRo, DESIGN loss (alpha 0.5 per example) | {pct(avg(mex)['static'])} | {pct(avg(mex)['prompt_routed'])} | {pct(avg(mex)['best_head'])} | {pct(avg(mex50)['routed'])} |")
w(f"| MiCRo, `--reg batch` (alpha 0.5 on batch-mean weights) | {pct(avg(mic)['static'])} | {pct(avg(mic)['prompt_routed'])} | {pct(avg(mic)['best_head'])} | {pct(avg(mic50)['routed'])} |")
w(f"| same, stage 2 from the stage-1 router (`--init stage1`) | | | | {pct(avg(mic50s1)['routed'])} |")
w(f"| same, MLP router (H = 128) | {pct(avg(mlp)['static'])} | {pct(avg(mlp)['prompt_routed'])} | {pct(avg(mlp)['best_head'])} | {pct(avg(mlp50)['routed'])} |")
w("")
w("## Table 3 (the paper's Fig. 4): routed accuracy against the budget B")
w("")
w("B context examples per attribute (10 attributes), 3 draws each; mean and range.")
w("")
w("| B | routed accuracy | min | max |")
w("|---:|---:|---:|---:|")
for b in (5, 10, 25, 50, 100, 150):
    v = [avg(load(f"b{b}-{s}"))["routed"] for s in (1, 2, 3)]
    w(f"| {b} | {pct(statistics.mean(v))} | {pct(min(v))} | {pct(max(v))} |")
w(f"| best head (reference) | {pct(avg(mic)['best_head'])} | | |")
w("")
w("## Table 4 (the paper's Fig. 5): against the number of heads K")
w("")
w("| K | best head | stage 1, routed on prompt | stage 2, routed on context (B = 50) |")
w("|---:|---:|---:|---:|")
for k in (1, 2, 5, 10, 15, 20):
    r1, r2 = load(f"k{k}"), load(f"k{k}-b50")
    w(f"| {k} | {pct(avg(r1)['best_head'])} | {pct(avg(r1)['prompt_routed'])} | {pct(avg(r2)['routed'])} |")
w("")
S, St, M1, M2 = avg(single)["routed"], avg(static)["routed"], avg(mic), avg(mic50)
w("## Reading the tables")
w("")
w(f"- One Bradley-Terry model reaches {pct(S)}% against a Bayes rate of {pct(float(bayes_ctx))}%: it averages ten")
w("  preference directions into one, the irreducible error of a single BT model under a mixture")
w("  (attributes whose preference runs against the majority fall below 50%).")
w(f"- The static mixture reaches {pct(St)}% ({100 * (St - S):+.1f} points against single BT) and shared-base")
w(f"  {pct(avg(shared)['routed'])}%: with weights that do not depend on the input every pair gets the same vote of")
w("  heads, so the mixture cannot say *whose* preference a pair follows; on this data its heads")
w(f"  barely specialise (best head {pct(avg(static)['best_head'])}%).")
w(f"- MiCRo's stage 1 ({'`--reg batch`'}) learns heads that do specialise: the best head per attribute reaches")
w(f"  {pct(M1['best_head'])}% ({pct(M1['best_head'] - S)} points over single BT), and routing on the prompt alone gives {pct(M1['prompt_routed'])}%")
w(f"  (the prompt only hints at the criterion: the Bayes rate knowing only the prompt is {pct(float(bayes_prompt))}%).")
w(f"- Stage 2 with 50 context examples per attribute routes to those heads: {pct(M2['routed'])}%, within")
w(f"  {pct(M1['best_head'] - M2['routed'])} points of the per-attribute best head. The budget curve (Table 3) rises steeply")
w("  up to B = 25-50 and is flat after, as in the paper's Fig. 4.")
w(f"- With the per-example regulariser of DESIGN §2 (the default) the router stays near uniform (alpha log K")
w(f"  = {0.5 * 2.302585:.2f} nats outweighs what sharp routing gains) and the heads specialise less: best head")
w(f"  {pct(avg(mex)['best_head'])}%, routed {pct(avg(mex50)['routed'])}%. Starting stage 2 from the stage-1 router instead of uniform")
w(f"  weights gives {pct(avg(mic50s1)['routed'])}%: that router was fitted on prompts and misroutes once the context shifts them.")
w("- Against K (Table 4): fewer heads than subpopulations (K < 10) lose accuracy; more heads")
w("  than needed cost little, accuracy stays flat (the paper's Fig. 5): the load-balancing term")
w("  keeps every head in use, so several heads share a subpopulation.")
w("")
w("## Commands")
w("")
w("`$WORK` is a scratch directory; every command ran with `OPENBLAS_NUM_THREADS=1`.")
w("")
w("```")
w(open(log).read().rstrip())
w("```")
open(out, "w").write("\n".join(L) + "\n")
PY
echo "wrote $OUT ($(cat "$WORK/wall_seconds") s of runs)"
