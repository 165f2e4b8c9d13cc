"""The hardening corpus: hostile and odd inputs for every command, each with the outcome it must get.

Each case builds its inputs in a fresh directory (``setup``), runs the installed ``lrplan`` entry point
once, and states the exit codes it may end with. ``replay.py`` runs them all with a 60 s time-out and
reports peak memory; ``tests/test_fuzz.py`` runs them under pytest. The classes follow the hardening
issue: outputs over inputs, internal errors, denial of service, device outputs, corrupt positions, closed
streams, symlink escapes, terminal escapes, misleading messages, memory at 1e8 steps.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CKPT = FIXTURES / "checkpoints"

USAGE, INEXPRESSIBLE, MISMATCH, HOSTILE, OUTPUT, CLOSED_PIPE = 2, 3, 5, 6, 73, 141


@dataclass
class Case:
    id: str
    argv: list[str]  # "{d}" is the case's directory
    expect: tuple[int, ...]
    setup: Callable[[Path], None] | None = None
    stdin: bytes | None = None
    needs: str = ""  # a message fragment the error must contain
    unchanged: tuple[str, ...] = ()  # inputs (relative to d) whose bytes must not change
    shell: str | None = None  # run through bash instead (closed streams, pipes)
    root_only: bool = False  # needs root (device nodes replaced by rename)
    tags: set[str] = field(default_factory=set)

    def args(self, d: Path) -> list[str]:
        return [a.replace("{d}", str(d)) for a in self.argv]


def _copy(src: Path, name: str) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        if src.is_dir():
            shutil.copytree(src, d / name, symlinks=True)
        else:
            shutil.copy(src, d / name)
    return setup


def _write(name: str, data: bytes | str) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)
    return setup


def _all(*fns: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        for f in fns:
            f(d)
    return setup


def _fifo(name: str) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(p)
    return setup


def _hf_state(d: Path, **state) -> None:
    shutil.copytree(CKPT / "hf" / "checkpoint-6", d / "ck", symlinks=True)
    p = d / "ck" / "trainer_state.json"
    data = json.loads(p.read_text())
    data.update(state)
    p.write_text(json.dumps(data))


def _ds_sched(d: Path, value) -> None:
    """A DeepSpeed checkpoint whose client scheduler state holds ``value`` as last_batch_iteration
    (made with torch itself, as DeepSpeed would save it)."""
    import torch

    shutil.copytree(CKPT / "deepspeed", d / "ds", symlinks=True)
    path = d / "ds" / "global_step6" / "mp_rank_00_model_states.pt"
    obj = torch.load(path, weights_only=False)
    obj["lr_scheduler"]["last_batch_iteration"] = value
    torch.save(obj, path)


def _dag_pickle(depth: int) -> bytes:
    """A pickle whose shared references expand to 2**depth leaves: tiny on disk, huge if copied out."""
    leaf: list = [0]
    for _ in range(depth):
        leaf = [leaf, leaf]
    return pickle.dumps({"global_steps": 5, "global_samples": leaf, "lr_scheduler": {"last_batch_iteration": 4}},
                        protocol=2)


def _selfref_pickle() -> bytes:
    a: list = []
    a.append(a)
    return pickle.dumps({"last_epoch": 3, "base_lrs": [0.1], "_last_lr": [0.1], "_step_count": 4, "loop": a},
                        protocol=2)


BILLION_LAUGHS = "\n".join(
    ["a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
       f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]" for i in range(8)]
    + ["lr_scheduler_type: cosine", "learning_rate: 3.0e-4", "max_steps: 1000", ""])

HF_CONSTANT = "lr_scheduler_type: constant\nlearning_rate: 3.0e-4\nmax_steps: 100\n"
SPEC = "warmup=100,cosine,min=0.1"


def cases() -> list[Case]:
    c: list[Case] = []
    add = c.append

    # 1. an output never goes over an input
    add(Case("resume-o-into-hf-checkpoint",
             ["resume", "{d}/ck", "--extend-to", "12", "-o", "{d}/ck/trainer_state.json"], (USAGE,),
             setup=_copy(CKPT / "hf" / "checkpoint-6", "ck"), unchanged=("ck/trainer_state.json",),
             needs="inside the input directory"))
    add(Case("resume-o-into-deepspeed-checkpoint",
             ["resume", "{d}/ds", "--extend-to", "12", "-o", "{d}/ds/global_step6/mp_rank_00_model_states.pt"],
             (USAGE,), setup=_copy(CKPT / "deepspeed", "ds"),
             unchanged=("ds/global_step6/mp_rank_00_model_states.pt",), needs="inside the input directory"))
    add(Case("convert-o-is-input", ["convert", "{d}/hf.yaml", "--to", "json", "-o", "{d}/hf.yaml"], (USAGE,),
             setup=_write("hf.yaml", HF_CONSTANT), unchanged=("hf.yaml",), needs="refusing to overwrite the input"))
    add(Case("convert-o-is-input-dotdot", ["convert", "{d}/hf.yaml", "--to", "json", "-o", "{d}/x/../hf.yaml"],
             (USAGE,), setup=_all(_write("hf.yaml", HF_CONSTANT), lambda d: (d / "x").mkdir()),
             unchanged=("hf.yaml",), needs="refusing to overwrite the input"))
    add(Case("convert-o-hardlink-to-input", ["convert", "{d}/hf.yaml", "--to", "json", "-o", "{d}/link.yaml"],
             (USAGE,), setup=_all(_write("hf.yaml", HF_CONSTANT),
                                  lambda d: os.link(d / "hf.yaml", d / "link.yaml")),
             unchanged=("hf.yaml",), needs="refusing to overwrite the input"))
    add(Case("convert-o-symlink-to-input", ["convert", "{d}/hf.yaml", "--to", "json", "-o", "{d}/sym.yaml"],
             (USAGE,), setup=_all(_write("hf.yaml", HF_CONSTANT),
                                  lambda d: os.symlink(d / "hf.yaml", d / "sym.yaml")),
             unchanged=("hf.yaml",), needs="refusing to overwrite the input"))

    # 2. internal errors that are missing checks
    add(Case("spec-1mb-number", ["plot", "-", "--steps", "1000"], (USAGE,),
             stdin=("warmup=10,cosine,min=" + "1" * 1_000_000).encode(), needs="digits"))
    add(Case("spec-deep-list", ["plot", "-", "--steps", "1000"], (USAGE,),
             stdin=("warmup=10,cosine,wd=" + "[" * 20000 + "0.1" + "]" * 20000).encode(), needs="found '['"))
    add(Case("spec-deep-args", ["plot", "-", "--steps", "1000"], (USAGE,),
             stdin=("warmup=10," + "restarts(" * 20000 + ")" * 20000).encode(), needs="nested"))
    for tok in ("peak=1e400", "min=1e400", "min=1e-400", "warmup=1e400", "total=1e400"):
        add(Case(f"spec-{tok}", ["plot", f"warmup=10,cosine,{tok}" if not tok.startswith("warmup")
                                 else f"{tok},cosine", "--steps", "1000"], (USAGE,), needs="double"))
    add(Case("spec-exponent-huge", ["plot", "warmup=1e999999999,cosine", "--steps", "1000"], (USAGE,),
             needs="double"))
    add(Case("spec-cycles-1e308", ["plot", "warmup=10,cosine(cycles=1e308)", "--steps", "1000"], (0, USAGE)))
    add(Case("spec-multistep-1e400", ["plot", "multistep(at=1e400)", "--steps", "1000"], (USAGE,)))
    add(Case("at-step-1e400", ["at-step", "1e400", SPEC, "--steps", "1000"], (USAGE,)))
    add(Case("at-step-nan", ["at-step", "nan", SPEC, "--steps", "1000"], (USAGE,)))
    add(Case("extend-to-1e20", ["resume", "{d}/ck", "--extend-to", "1e20"], (USAGE,), needs="2^53",
             setup=_copy(CKPT / "hf" / "checkpoint-6", "ck")))
    add(Case("extend-to-abc", ["resume", "{d}/ck", "--extend-to", "abc"], (USAGE,),
             setup=_copy(CKPT / "hf" / "checkpoint-6", "ck"), needs="--extend-to"))
    add(Case("width-1e7", ["plot", SPEC, "--steps", "1000", "--width", "10000000"], (USAGE,), needs="--width"))
    add(Case("height-0", ["plot", SPEC, "--steps", "1000", "--height", "0"], (USAGE,), needs="--height"))
    add(Case("height-1e7", ["plot", SPEC, "--steps", "1000", "--height", "10000000"], (USAGE,), needs="--height"))
    add(Case("from-checkpoint-on-spec", ["plot", SPEC, "--steps", "1000", "--from", "checkpoint"], (USAGE,)))
    for name, val in (("list", "[1, 2]"), ("table", "{ a = 1 }"), ("string", '"abc"')):
        add(Case(f"torchtitan-toml-{name}", ["plot", "{d}/t.toml"], (USAGE,),
                 setup=_write("t.toml", f"[lr_scheduler]\nwarmup_steps = {val}\n[training]\nsteps = 1000\n"
                                         "[optimizer]\nlr = 3e-4\n"), needs="warmup_steps"))
    add(Case("selfref-list-json", ["inspect", "{d}/s.pt", "--json", "--plan", SPEC, "--steps", "1000"],
             (0, USAGE, MISMATCH), setup=_write("s.pt", _selfref_pickle())))
    add(Case("table-dev-zero", ["table", "/dev/zero"], (USAGE,), needs="not a"))
    add(Case("plot-dev-urandom", ["plot", "/dev/urandom"], (USAGE,), needs="not a"))
    add(Case("hf-deepspeed-binary", ["plot", "{d}/hf.yaml"], (USAGE,),
             setup=_all(_write("hf.yaml", HF_CONSTANT + "deepspeed: ds.json\n"),
                        _write("ds.json", b"\x00\x01\x02binary\xff")), needs="ds.json"))
    add(Case("hf-deepspeed-list", ["plot", "{d}/hf.yaml"], (USAGE,),
             setup=_all(_write("hf.yaml", HF_CONSTANT + "deepspeed: ds.json\n"), _write("ds.json", "[1, 2]")),
             needs="ds.json"))
    add(Case("hf-deepspeed-dev-zero", ["plot", "{d}/hf.yaml"], (USAGE,),
             setup=_write("hf.yaml", HF_CONSTANT + "deepspeed: /dev/zero\n"), needs="not a"))
    add(Case("hf-constant-to-megatron", ["convert", "{d}/hf.yaml", "--to", "megatron"], (0, INEXPRESSIBLE),
             setup=_write("hf.yaml", HF_CONSTANT)))

    # outputs that cannot be written
    add(Case("o-existing-directory", ["plot", SPEC, "--steps", "1000", "-o", "{d}"], (OUTPUT,), needs="a directory"))
    add(Case("o-missing-parent", ["plot", SPEC, "--steps", "1000", "-o", "{d}/no/such/dir/x.png"], (OUTPUT,)))
    add(Case("o-name-too-long", ["convert", SPEC, "--steps", "1000", "--to", "json", "-o", "{d}/" + "x" * 255 + ".json"],
             (OUTPUT,)))
    add(Case("o-dev-full", ["convert", SPEC, "--steps", "1000", "--to", "json", "-o", "/dev/full"], (OUTPUT,),
             needs="disk is full"))

    # 3. denial of service
    add(Case("yaml-billion-laughs", ["plot", "{d}/bomb.yaml"], (USAGE,), setup=_write("bomb.yaml", BILLION_LAUGHS),
             needs="alias"))
    add(Case("config-dev-zero", ["resume", "{d}/ck", "--extend-to", "12", "--config", "/dev/zero"], (USAGE,),
             setup=_copy(CKPT / "hf" / "checkpoint-6", "ck"), needs="not a"))
    add(Case("plan-dev-urandom", ["at-step", "3", "{d}/LambdaLR.pt", "--plan", "/dev/urandom"], (USAGE,),
             setup=_copy(CKPT / "torch" / "LambdaLR.pt", "LambdaLR.pt")))
    add(Case("fifo-checkpoint", ["at-step", "3", "{d}/x.pt"], (USAGE,), setup=_fifo("x.pt"),
             needs="not a"))
    add(Case("fifo-spec-file", ["plot", "{d}/s.yaml"], (USAGE,), setup=_fifo("s.yaml"), needs="not a"))
    add(Case("fifo-dcp-entry", ["inspect", "{d}/tt/step-5"], (USAGE,),
             setup=_all(_copy(CKPT / "torchtitan", "tt"),
                        lambda d: ((d / "tt/step-5/.metadata").unlink(), os.mkfifo(d / "tt/step-5/.metadata")))))
    add(Case("pickle-dag-2e40", ["inspect", "{d}/ds.pt", "--json"], (0, USAGE, MISMATCH),
             setup=_write("ds.pt", _dag_pickle(40))))
    add(Case("spec-100k-phases", ["table", "-", "--steps", "100M"], (0, USAGE),
             stdin=",".join(["warmup=10"] + ["constant=100", "linear=100"] * 50_000).encode()))
    add(Case("approx-restarts-1e9", ["convert", "restarts(cycle=1)", "--steps", "1e9", "--to",
                                     "torchtitan", "--approx"], (0, USAGE, INEXPRESSIBLE)))

    # 4. outputs to devices are written through
    add(Case("o-dev-null", ["convert", SPEC, "--steps", "1000", "--to", "json", "-o", "/dev/null"], (0,)))
    add(Case("o-symlink-dev-full", ["convert", SPEC, "--steps", "1000", "--to", "json", "-o", "{d}/full"], (OUTPUT,),
             setup=lambda d: os.symlink("/dev/full", d / "full"), needs="disk is full"))

    # 5. corrupt positions
    for name, value in (("abc", "abc"), ("1e20", 1e20), ("nan", float("nan")), ("negative", -3)):
        add(Case(f"hf-global-step-{name}", ["inspect", "{d}/ck"], (USAGE,),
                 setup=lambda d, v=value: _hf_state(d, global_step=v), needs="global_step"))
    for name, value in (("abc", "abc"), ("nan", float("nan")), ("1e20", 1e20)):
        add(Case(f"ds-last-batch-iteration-{name}", ["inspect", "{d}/ds"], (USAGE,),
                 setup=lambda d, v=value: _ds_sched(d, v), needs="last_batch_iteration"))

    # 7. closed or broken output streams
    add(Case("table-stdout-closed", [], (OUTPUT,), shell=f'lrplan table "{SPEC}" --steps 100k >&-',
             needs="standard output is closed"))
    add(Case("convert-o-stdout-closed", [], (0,),
             shell=f'lrplan convert "{SPEC}" --steps 100k --to json -o out.json >&- && test -s out.json'))
    # a closed pipe ends like a tool killed by SIGPIPE (141), never 1 (which `diff` uses for DIFFERENT). A short
    # output can fit in the pipe before `head` exits: then the command ends as usual (explain 0, diff 1 for
    # these two different schedules); the 10M-row table always outruns the pipe, so it must end with 141.
    add(Case("explain-into-head", [], (0, CLOSED_PIPE),
             shell=f'set -o pipefail; lrplan explain "{SPEC}" --steps 100k | head -1'))
    add(Case("diff-into-head", [], (1, CLOSED_PIPE),
             shell=f'set -o pipefail; lrplan diff "{SPEC}" "warmup=100,linear" --steps 100k | head -1'))
    add(Case("table-into-head", [], (CLOSED_PIPE,),
             shell=f'set -o pipefail; lrplan table "{SPEC}" --steps 10M --every 1 | head -1'))

    # 8. symlinks a checkpoint names are confined to its directory
    add(Case("dcp-metadata-symlink-out", ["inspect", "{d}/tt/step-5"], (USAGE, HOSTILE),
             setup=_all(_copy(CKPT / "torchtitan", "tt"),
                        lambda d: ((d / "tt/step-5/.metadata").unlink(),
                                   os.symlink("/etc/passwd", d / "tt/step-5/.metadata"))), needs="outside"))
    add(Case("ds-latest-symlink-out", ["inspect", "{d}/ds"], (USAGE, HOSTILE),
             setup=_all(_copy(CKPT / "deepspeed", "ds"), _write("secret.txt", "TOPSECRET\n"),
                        lambda d: ((d / "ds/latest").unlink(), os.symlink(d / "secret.txt", d / "ds/latest"))),
             needs="outside"))

    # 9. terminal escapes quoted back
    add(Case("escape-in-spec", ["plot", "warmup=10,cos\x1b[2Jine", "--steps", "1000"], (USAGE,)))
    add(Case("escape-in-yaml", ["plot", "{d}/e.yaml"], (USAGE,),
             setup=_write("e.yaml", "lr_scheduler_type: \"cos\\e[2Jine\"\nlearning_rate: 1e-3\nmax_steps: 10\n")))

    # 10. messages that point the right way
    add(Case("truncated-json", ["plot", "{d}/ds.json"], (USAGE,),
             setup=_write("ds.json", '{"scheduler": {"type": "WarmupLR", "params": {"warmup_num_steps": 10'),
             needs="line"))
    add(Case("yaml-with-tabs", ["plot", "{d}/hf.yaml"], (USAGE,),
             setup=_write("hf.yaml", "lr_scheduler_type: cosine\n\tlearning_rate: 3e-4\n"), needs="line"))
    add(Case("json-with-bom", ["plot", "{d}/ds.json", "--steps", "100"], (0,),
             setup=_write("ds.json", "\ufeff" + json.dumps(
                 {"scheduler": {"type": "WarmupLR", "params": {"warmup_num_steps": 10, "warmup_max_lr": 0.001}}}))))
    add(Case("torchrun-line-as-argument",
             ["plot", "torchrun --nproc_per_node 8 pretrain_gpt.py --lr 3e-4 --min-lr 3e-5 --lr-decay-style cosine "
                      "--lr-warmup-iters 100 --train-iters 1000"], (0,)))
    add(Case("empty-source", ["plot", ""], (USAGE,), needs="empty"))

    # 11. memory stays bounded at 1e8 steps
    for target in ("hf", "megatron", "torchtitan"):
        add(Case(f"convert-1e8-{target}", ["convert", "warmup=2000,cosine,min=0.1" if target != "torchtitan"
                                           else "warmup=2000,linear", "--steps", "100M", "--lr", "3e-4",
                                           "--to", target], (0, INEXPRESSIBLE), tags={"slow"}))
    for target in ("torchtitan", "deepspeed"):
        add(Case(f"convert-1e8-{target}-approx", ["convert", "warmup=2000,cosine,min=0.1", "--steps", "100M", "--lr",
                                                  "3e-4", "--to", target, "--approx"], (0,), tags={"slow"}))
    add(Case("spec-1mb", ["table", "-", "--steps", "1000"], (USAGE,), stdin=("warmup=10," + "x," * 500_000).encode()))
    return c


def by_id(case_id: str) -> Case:
    return next(c for c in cases() if c.id == case_id)


def applies(case: Case) -> bool:
    return not case.root_only or os.geteuid() == 0


def snapshot(d: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    return {n: (d / n).read_bytes() for n in names}


def is_char_device(path: str) -> bool:
    return stat.S_ISCHR(os.stat(path).st_mode)
