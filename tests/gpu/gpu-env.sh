# Sourced by the GPU scripts: finds CUDA, cuDNN (the system one or PyTorch's
# nvidia.cudnn wheel), libpng/libcjson, and the GPU's compute capability.
CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$(command -v nvcc)")")}
if [ -z "${CUDNN_HOME:-}" ]; then
    if [ -f "$CUDA_HOME/include/cudnn.h" ]; then
        CUDNN_HOME=$CUDA_HOME
    elif [ -f /usr/include/cudnn.h ]; then
        CUDNN_HOME=/usr
    else
        wheel=$(python3 -c 'import nvidia.cudnn as m; print(m.__path__[0])' 2>/dev/null)
        if [ -n "$wheel" ] && [ -f "$wheel/include/cudnn.h" ]; then
            # The wheel ships libcudnn.so.9 without the unversioned name the linker wants.
            CUDNN_HOME=$(mktemp -d)
            ln -s "$wheel/include" "$CUDNN_HOME/include"
            mkdir "$CUDNN_HOME/lib"
            for f in "$wheel"/lib/*; do ln -s "$f" "$CUDNN_HOME/lib/"; done
            [ -e "$CUDNN_HOME/lib/libcudnn.so" ] || ln -s "$wheel/lib/libcudnn.so.9" "$CUDNN_HOME/lib/libcudnn.so"
            # cuDNN loads its engine libraries (and cuBLAS, NVRTC) at run time by name
            nv=$(dirname "$wheel")
            for d in "$nv"/*/lib; do LD_LIBRARY_PATH=$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}; done
        fi
    fi
fi
export LD_LIBRARY_PATH=$CUDA_HOME/lib64:${CUDNN_HOME:-$CUDA_HOME}/lib:${LD_LIBRARY_PATH:-}
if ! { command -v pkg-config >/dev/null && pkg-config --exists libpng libcjson; }; then
    [ -x tmp/gpu/deps/bin/pkg-config ] && PATH=$PWD/tmp/gpu/deps/bin:$PATH
fi
if [ -z "${CUDA_ARCH:-}" ]; then
    cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
    CUDA_ARCH=${cap:-90}
fi
echo "CUDA_HOME=$CUDA_HOME CUDNN_HOME=${CUDNN_HOME:-none} CUDA_ARCH=$CUDA_ARCH"
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
export CUDA_HOME CUDNN_HOME LD_LIBRARY_PATH PATH
