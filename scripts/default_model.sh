#!/usr/bin/env bash
# Train and publish the default model from ../shared/photos if none is published yet.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
if [ ! -e data/models/current ]; then
  echo "== training the default model from ../shared/photos (first run: a couple of minutes on 2 cores)"
  python -m train fit --data ../shared/photos --ood-data ../shared/photos_ood --out data/models/v1
  python -m train publish v1
fi
