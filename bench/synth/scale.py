"""National-scale generation: time and peak memory (run under /usr/bin/time -v).

    /usr/bin/time -v uv run python bench/synth/scale.py --n-persons 500000 --out /tmp/kb_scale
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from kommunebench.synth import generate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-persons", type=int, default=500_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--chunk-size", type=int, default=50_000)
    ap.add_argument("--fmt", default="parquet")
    ap.add_argument("--out", type=Path, default=Path("/tmp/kb_scale"))
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    s = generate(args.out / "landing", n_persons=args.n_persons, seed=args.seed, fmt=args.fmt,
                 chunk_size=args.chunk_size, progress=args.progress)
    size = sum((args.out / "landing" / f.path).stat().st_size for f in s.files)
    print(f"persons={s.n_persons} files={len(s.files)} dream_rows={s.rows('DREAM')} "
          f"bef_rows={s.rows('BEF')} bytes={size} seconds={s.seconds:.1f}")
    print("persons per group:", s.persons_per_group)


if __name__ == "__main__":
    main()
