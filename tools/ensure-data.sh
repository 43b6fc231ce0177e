#!/usr/bin/env bash
# Make sure Fashion-MNIST is installed (Debian package dataset-fashion-mnist). Never fails the build:
# without root or apt it prints how to install it, and skmobile itself gives a clear error later.
set -u
dir=/usr/share/datasets/fashion-mnist
if [ -f "$dir/train-images-idx3-ubyte.gz" ]; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing Fashion-MNIST (apt-get install dataset-fashion-mnist)..."
  (apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
   (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1)) \
   || echo "could not install dataset-fashion-mnist with apt-get"
else
  echo "Fashion-MNIST is missing: run 'sudo apt-get install dataset-fashion-mnist' or pass --data-dir"
fi
exit 0
