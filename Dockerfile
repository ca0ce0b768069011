# The image the cluster files run (cluster/kuberay/*.yaml, cluster/aws.yaml): Ray's own GPU image, torch's CUDA
# build, DeepSpeed with its optimizer ops compiled where the base has CUDA's compiler, and xstilts with its
# configs, search spaces and toy data (`sweep launch xstilts:studies/xstilts`). Built by `make image`, which
# makes the wheel first; push it where the cluster pulls from (docs/cluster.md).
ARG RAY_VERSION=2.60.0
ARG PYTHON_TAG=py311
ARG CUDA_TAG=cu128
FROM rayproject/ray:${RAY_VERSION}-${PYTHON_TAG}-${CUDA_TAG}

# torch's CUDA build, matching the base image's CUDA; its version is constraints.txt's (a test checks)
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128

# The base image runs as its non-root user `ray` (uid 1000, home /home/ray); so does everything below.
USER ray
WORKDIR /home/ray

# Alone, from torch's index (which does not carry every version of the other packages the constraints pin).
RUN pip install --no-cache-dir "torch==${TORCH_VERSION}" --index-url ${TORCH_INDEX}

COPY --chown=ray:users constraints.txt /tmp/xstilts/constraints.txt

# DeepSpeed's CPU and fused Adam compiled now where nvcc exists (a -devel base), else at first use on each node.
RUN if command -v nvcc >/dev/null; then export DS_BUILD_CPU_ADAM=1 DS_BUILD_FUSED_ADAM=1; fi; \
    pip install --no-cache-dir -c /tmp/xstilts/constraints.txt deepspeed

COPY --chown=ray:users dist/ /tmp/xstilts/dist/
# [trackers]: MLflow, W&B and TensorBoard, which the driver logs to when a study's `tracking:` names them
RUN pip install --no-cache-dir -c /tmp/xstilts/constraints.txt "$(ls /tmp/xstilts/dist/xstilts-*.whl)[trackers]" \
    && rm -rf /tmp/xstilts

# The packaged study configs resolve and validate in the image, with no checkout beside them.
RUN sweep validate xstilts:quickstart --skip-files >/dev/null
