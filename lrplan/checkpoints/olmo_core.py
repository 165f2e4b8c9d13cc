"""OLMo-core checkpoints: ``<save_folder>/step{N}/`` with ``train/rank{r}.pt`` and ``config.json``.

``Checkpointer.save`` (ai2-olmo-core 3.0.0 ``train/checkpoint.py``) writes ``torch.save(trainer.state_dict(),
train/rank{rank}.pt)``: ``global_step``, ``global_train_tokens_seen``, ``max_steps`` (as computed at save
time), ``epoch``, ``data_loader`` (``batches_processed``, ``tokens_processed``, ...), ``world_size``, ``rng``,
``callbacks``; the model and optimizer go to ``model_and_optim/`` (DCP, not read here), and
``ConfigSaverCallback.post_checkpoint_saved`` writes the experiment's ``config.json`` into the same
directory -- so the schedule is in the checkpoint (``--config`` overrides it).

The scheduler has no state: on resume the trainer restores ``global_step`` and the tokens seen, and the
next update (lrplan step ``global_step``; OLMo-core's step ``global_step + 1``) uses ``get_lr`` of the
*new* config at that position, with ``initial_lr`` reset to the new config's LR (a fixed field) and
``max_steps`` recomputed from the new ``max_duration``.
"""

from __future__ import annotations

from ..errors import CheckpointError
from ..frameworks.base import Loaded, ReadOptions
from . import safepickle
from .info import Info, Outcome, at, count, load_config
from .locate import Found, confined

CONFIG_FORMAT = "olmo-core"
RESUME_REFUSAL = ""
RESUME_NOTE = ("OLMo-core keeps no scheduler state: the new config's scheduler and LR apply from the restored "
               "global_step (its initial_lr is the config's, not the checkpoint's)")


def probe(path) -> bool:
    return (path / "train" / "rank0.pt").is_file()


def read(found: Found, opts: ReadOptions, config: str | None) -> Info:
    d = found.path
    f = confined(d, d / "train" / "rank0.pt", "train/rank0.pt")
    top = safepickle.plain(safepickle.load_file(f))
    if not isinstance(top, dict) or "global_step" not in top:
        raise CheckpointError(f"{f} has no global_step: not an OLMo-core trainer state",
                              hint="OLMo-core saves Trainer.state_dict() as train/rank0.pt")
    step = count(top.get("global_step"), "global_step", f, allow_none=False)
    info = Info("olmo-core", found.layout, d, {"global_step": step}, step)
    for key in ("global_train_tokens_seen", "max_steps", "epoch"):
        if top.get(key) is not None:
            info.position[key] = count(top[key], key, f)
    dl = top.get("data_loader")
    if isinstance(dl, dict) and dl.get("batches_processed") is not None:
        info.position["data_loader.batches_processed"] = count(dl["batches_processed"],
                                                               "data_loader.batches_processed", f)
    info.missing.append("the stored LR: it is in model_and_optim/ (torch.distributed.checkpoint), not read here")
    own = d / "config.json"
    if config is None and own.is_file():
        config = str(confined(d, own, "config.json"))
        info.notes.append(f"the schedule from {own.name} in the checkpoint (ConfigSaverCallback); --config overrides")
    if not config:
        info.missing.append("the schedule: no config.json in the checkpoint; pass --config config.json")
        return info
    info.loaded = load_config(config, CONFIG_FORMAT, opts)
    saved = info.position.get("max_steps")
    planned = info.loaded.raw.get("_updates")
    if saved is not None and planned is not None and saved != planned:
        info.notes.append(f"the trainer saved max_steps {saved}; the config makes it {planned} (max_duration or "
                          "the batch size changed?)")
    return info


def outcomes(info: Info, new: Loaded | None, opts: ReadOptions) -> list[Outcome]:
    ld = new or info.loaded
    if ld is None:
        return []
    return [Outcome("Trainer (load from the checkpoint)", at(ld, info), ld,
                    note="the config's schedule at the restored global_step; OLMo-core saves no scheduler state")]
