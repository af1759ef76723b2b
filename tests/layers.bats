#!/usr/bin/env bats
# The layers of the code (docs/DESIGN.md): tests/layers.sh finds no include
# running back up in the tree, and does find one planted in a copy.

bats_require_minimum_version 1.5.0
load helpers/common

setup() {
    common_setup
}

@test "layers: no include runs back up; the graph has the engine between the tools and the kernels" {
    run "$REPO_ROOT/tests/layers.sh"
    assert_success
    assert_line --regexp '^engine -> kernels +[0-9]+ includes$'
    assert_line --regexp '^kernels -> base +[0-9]+ includes$'
    assert_line --regexp '^tools -> engine +[0-9]+ includes$'
    refute_line --regexp '^(base|kernels) -> (engine|tools|plot)'
    refute_line --regexp '^base -> kernels'
}

# A small tree of each layer: the base may not include a backend or the
# engine, a backend may not include the engine, and a name that resolves to
# no file is an error too.
@test "layers: an include running back up is found and named" {
    mkdir -p t/lib/engine t/kernels t/tools
    echo '#include "err.h"' > t/lib/io.c
    : > t/lib/err.h
    printf '#include "err.h"\n#include "backend.h"\n' > t/lib/engine/model.h
    printf '#include "err.h"\n' > t/kernels/backend.h
    printf '#include "model.h"\n#include "backend.h"\n' > t/tools/x.c
    run "$REPO_ROOT/tests/layers.sh" t
    assert_success
    assert_line --regexp '^engine -> kernels +1 includes$'

    echo '#include "model.h"' >> t/lib/io.c
    run "$REPO_ROOT/tests/layers.sh" t
    assert_failure 1
    assert_output --partial "lib/io.c (base) includes lib/engine/model.h (engine): an include running back up"

    echo '#include "err.h"' > t/lib/io.c
    echo '#include "model.h"' >> t/kernels/backend.h
    run "$REPO_ROOT/tests/layers.sh" t
    assert_failure 1
    assert_output --partial "kernels/backend.h (kernels) includes lib/engine/model.h (engine)"

    printf '#include "err.h"\n' > t/kernels/backend.h
    echo '#include "backend.h"' >> t/lib/io.c
    run "$REPO_ROOT/tests/layers.sh" t
    assert_failure 1
    assert_output --partial "lib/io.c (base) includes kernels/backend.h (kernels)"

    echo '#include "missing.h"' > t/lib/io.c
    run "$REPO_ROOT/tests/layers.sh" t
    assert_failure 1
    assert_output --partial 'includes "missing.h", which is no file of the tree'
}
