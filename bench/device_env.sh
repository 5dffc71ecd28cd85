# Sourced by the device scripts: points CMake, pkg-config and the loader at the
# Catch2/FFTW prefix that bench/prepare_device_deps.sh fills (.device/, carried
# to the GPU machine), and puts the CUDA toolkit on PATH. Expects $root.
deps=$root/.device
if [ -d "$deps" ]; then
    sed "s|^prefix=.*|prefix=$deps|" "$deps/lib/pkgconfig/fftw3.pc.in" > "$deps/lib/pkgconfig/fftw3.pc"
    export CMAKE_PREFIX_PATH=$deps${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}
    export PKG_CONFIG_PATH=$deps/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
    export LD_LIBRARY_PATH=$deps/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export CPATH=$deps/include${CPATH:+:$CPATH}
fi
export PATH=/usr/local/cuda/bin:$PATH
