"""``signals train CONFIG``: train an RL signal policy (see :mod:`signals.control.rl.train`)."""

from __future__ import annotations

from signals.cli import _checks as C


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a parameter-shared RL signal policy (stable-baselines3) from a TOML config",
        description=(
            "Train one policy shared by every signal of the config's network on the queue model "
            "or SUMO (env.backend). Writes model.zip, card.json, config.toml, checkpoints/ and "
            "logs/ (CSV and TensorBoard) into --out."
        ),
    )
    p.add_argument("config", help="training config (TOML)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument(
        "--resume", action="store_true", help="continue from the newest checkpoint in --out"
    )
    p.add_argument(
        "--steps", type=C.count, default=None, help="agent steps in all (default: algo.total_steps)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)


def _train(args) -> int:
    import sys

    from signals.control.rl.train import load_train_config, train
    from signals.errors import check_out_dir

    load_train_config(args.config)  # a bad config is one line before anything is written
    if not args.resume:
        check_out_dir(args.out)
    progress = "off" if args.no_progress else ("bar" if sys.stderr.isatty() else "lines")
    out = train(
        args.config, args.out, resume=args.resume, progress=progress, total_steps=args.steps
    )
    print(f"trained policy in {out}")
    return 0
