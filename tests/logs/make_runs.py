"""Real training runs on CPU that write real logs, for tests/logs/ (run as subprocesses, once per session).

    python make_runs.py hf OUT          HF Trainer (tiny GPT-2), report_to tensorboard + wandb (offline) + mlflow
                                        (file store): 16 updates each: ga1 (saves checkpoint-10), ga2, resumed (from checkpoint-10),
                                        restarted (from checkpoint-10 with scheduler.pt removed: the accident);
                                        and in OUT/torch (same process, same imports) a hand-written loop with
                                        torch's SummaryWriter: a clean run, and the accidents "scheduler stepped
                                        every micro-batch" (GA 4) and "scheduler lengths counted in micro-batches"
    python make_runs.py lightning OUT   Lightning CSVLogger + LearningRateMonitor(logging_interval="step"), GA 2
    python make_runs.py deepspeed OUT   DeepSpeed engine stdout (CPU, one process): WarmupCosineLR from its config,
                                        and a run without a scheduler (constant LR)

Each run also writes used.json: the LR every optimizer update really used (read right before optimizer.step()),
the ground truth the readers' step rules are checked against.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time


def hf(out: str) -> None:
    os.environ.update(HF_HUB_OFFLINE="1", WANDB_MODE="offline", WANDB_SILENT="true", MLFLOW_ALLOW_FILE_STORE="true",
                      WANDB_DISABLE_GIT="true", TOKENIZERS_PARALLELISM="false", DISABLE_MLFLOW_INTEGRATION="FALSE")
    import torch
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    class Data(torch.utils.data.Dataset):
        def __init__(self, n):
            g = torch.Generator().manual_seed(1)
            self.x = torch.randint(0, 64, (n, 8), generator=g)

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return {"input_ids": self.x[i], "labels": self.x[i]}

    class Record(TrainerCallback):
        def __init__(self):
            self.used = {}

        def on_pre_optimizer_step(self, args, state, control, optimizer=None, **kw):
            self.used[state.global_step] = optimizer.param_groups[0]["lr"]  # update k = global_step before it

    # wandb keeps the settings of its first init for the whole process: one WANDB_DIR, each run's own
    # offline-run-* directory is recorded next to the run (wandb_run.txt)
    os.environ["WANDB_DIR"] = out

    def offline_runs():
        root = os.path.join(out, "wandb")
        return set(os.listdir(root)) if os.path.isdir(root) else set()

    def run(name, ga=1, save=False, resume=None):
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        os.environ.update(MLFLOW_TRACKING_URI="file:" + os.path.join(d, "mlruns"), MLFLOW_EXPERIMENT_NAME="lrplan")
        before = offline_runs()
        torch.manual_seed(0)
        model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=64, n_positions=16))
        args = TrainingArguments(output_dir=d, max_steps=16, logging_steps=1, learning_rate=1e-3,
                                 lr_scheduler_type="cosine", warmup_steps=5, per_device_train_batch_size=2,
                                 gradient_accumulation_steps=ga, save_strategy="steps" if save else "no",
                                 save_steps=10, report_to=["tensorboard", "wandb", "mlflow"], run_name=name, seed=0,
                                 dataloader_num_workers=0, disable_tqdm=True, use_cpu=True)
        rec = Record()
        trainer = Trainer(model=model, args=args, train_dataset=Data(200), callbacks=[rec])
        t0 = time.perf_counter()
        trainer.train(resume_from_checkpoint=resume)
        trainer.save_state()
        import wandb

        wandb.finish()  # else the next Trainer of this process logs into the same W&B run
        print(f"TIME {name} {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        with open(os.path.join(d, "used.json"), "w") as f:
            json.dump({str(k): v for k, v in sorted(rec.used.items())}, f)
        new = sorted(r for r in offline_runs() - before if r.startswith("offline-run-"))
        with open(os.path.join(d, "wandb_run.txt"), "w") as f:
            f.write(os.path.join(out, "wandb", new[-1]))

    torch_loops(os.path.join(out, "torch"))  # here: it shares this process's imports of torch and transformers
    run("ga1", save=True)
    run("ga2", ga=2)
    for name, drop in (("resumed", False), ("restarted", True)):
        d = os.path.join(out, name)
        shutil.copytree(os.path.join(out, "ga1", "checkpoint-10"), os.path.join(d, "checkpoint-10"))
        if drop:  # the accident: the scheduler's state is lost, the resumed run starts its schedule again
            os.remove(os.path.join(d, "checkpoint-10", "scheduler.pt"))
        run(name, resume=os.path.join(d, "checkpoint-10"))


def lightning(out: str) -> None:
    import math

    import lightning as L
    import torch
    from lightning.pytorch.callbacks import LearningRateMonitor
    from lightning.pytorch.loggers import CSVLogger

    W, T = 5, 20

    def lam(k):
        return k / W if k < W else 0.5 * (1 + math.cos(math.pi * (k - W) / (T - W)))

    class Model(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(4, 1)
            self.used = {}

        def training_step(self, batch, i):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x), y)
            self.log("train_loss", loss)
            return loss

        def on_before_optimizer_step(self, optimizer):
            self.used[self.trainer.global_step] = optimizer.param_groups[0]["lr"]

        def configure_optimizers(self):
            opt = torch.optim.AdamW(self.parameters(), lr=1e-3)
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lam)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(400, 4), torch.randn(400, 1))
    model = Model()
    trainer = L.Trainer(max_steps=T, accelerator="cpu", devices=1, logger=CSVLogger(out, name="run"),
                        callbacks=[LearningRateMonitor(logging_interval="step")], log_every_n_steps=1,
                        accumulate_grad_batches=2, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    trainer.fit(model, torch.utils.data.DataLoader(data, batch_size=4))
    with open(os.path.join(out, "used.json"), "w") as f:
        json.dump({str(k): v for k, v in sorted(model.used.items())}, f)


def torch_loops(out: str) -> None:
    """A plain loop, GA 4, logging the LR each update uses to TensorBoard at step = the update's index."""
    import torch
    from torch.utils.tensorboard import SummaryWriter
    from transformers import get_cosine_schedule_with_warmup

    G, W, T = 4, 10, 60

    def run(name, per_micro_batch=False, lengths_in_micro_batches=False):
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 1)
        opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
        scale = G if lengths_in_micro_batches else 1
        sched = get_cosine_schedule_with_warmup(opt, W * scale, T * scale)
        writer = SummaryWriter(os.path.join(out, name))
        used = {}
        for k in range(T):
            used[k] = opt.param_groups[0]["lr"]
            writer.add_scalar("lr", opt.param_groups[0]["lr"], k)
            for _ in range(G):
                model(torch.randn(2, 4)).sum().backward()
                if per_micro_batch:  # the accident: stepped with every micro-batch
                    sched.step()
            opt.step()
            opt.zero_grad()
            if not per_micro_batch:
                sched.step()
        writer.close()
        with open(os.path.join(out, name, "used.json"), "w") as f:
            json.dump({str(k): v for k, v in used.items()}, f)

    run("clean")
    run("per_micro_batch", per_micro_batch=True)
    run("micro_batch_lengths", lengths_in_micro_batches=True)


DS_SCRIPT = r"""
import json, os, socket, sys
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
os.environ.update(DS_ACCELERATOR="cpu", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK="0", LOCAL_RANK="0",
                  WORLD_SIZE="1")
import torch, deepspeed
for name, cfg in json.loads(sys.argv[1]):
    print("RUN " + name, flush=True)
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    engine, *_ = deepspeed.initialize(model=model, optimizer=opt, config=cfg)
    used, x = {}, torch.ones(1, 2)
    for update in range(16):
        used[update] = engine.optimizer.param_groups[0]["lr"]
        for _ in range(cfg["gradient_accumulation_steps"]):
            engine.backward(engine(x).sum())
            engine.step()
    print("USED " + json.dumps(used), flush=True)
"""


def deepspeed_runs(out: str) -> None:
    """Both DeepSpeed runs in one process (one import of deepspeed); its log lines and stdout go to one pipe,
    split per run at the RUN markers."""
    import subprocess

    base = {"log_level": "info", "train_micro_batch_size_per_gpu": 1, "gradient_accumulation_steps": 2,
            "steps_per_print": 1}
    sched = {"type": "WarmupCosineLR", "params": {"total_num_steps": 16, "warmup_num_steps": 4, "warmup_type": "linear",
                                                  "warmup_min_ratio": 0.0, "cos_min_ratio": 0.1}}
    runs = [("cosine", {**base, "scheduler": sched}), ("no_scheduler", base)]
    r = subprocess.run([sys.executable, "-c", DS_SCRIPT, json.dumps(runs)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, check=False, env=dict(os.environ, DS_ACCELERATOR="cpu",
                                                                     PYTHONUNBUFFERED="1"))
    if r.returncode:
        raise SystemExit(f"DeepSpeed runs failed:\n{r.stdout[-3000:]}")
    parts = r.stdout.split("RUN ")[1:]
    for (name, cfg), part in zip(runs, parts, strict=True):
        assert part.startswith(name + "\n"), part[:80]
        d = os.path.join(out, name)
        os.makedirs(d)
        with open(os.path.join(d, "ds_config.json"), "w") as f:
            json.dump({k: v for k, v in cfg.items() if k != "log_level"}, f)
        with open(os.path.join(d, "train.log"), "w") as f:
            f.write(part[len(name) + 1:])
        used = next(line for line in part.splitlines() if line.startswith("USED "))
        with open(os.path.join(d, "used.json"), "w") as f:
            f.write(used[5:])


if __name__ == "__main__":
    kind, out = sys.argv[1], sys.argv[2]
    {"hf": hf, "lightning": lightning, "deepspeed": deepspeed_runs}[kind](out)
