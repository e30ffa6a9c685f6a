# SPDX-License-Identifier: MIT
# Builds examples/fuzz/target.c into ${LIBVMM_FUZZ_TARGET} (an ELF loaded with
# vmm_boot_elf) with clang's coverage counters. Included by examples/ and fuzz/.
# Compiled and linked in two steps: with -fsanitize-coverage on the link line
# clang would pull in its sanitizer runtime.
set(_src ${CMAKE_SOURCE_DIR}/examples/fuzz)
set(LIBVMM_FUZZ_TARGET ${CMAKE_CURRENT_BINARY_DIR}/fuzz_target.elf)
add_custom_command(
  OUTPUT ${LIBVMM_FUZZ_TARGET}
  COMMAND ${LIBVMM_CLANG} -m64 -ffreestanding -fno-pic -fno-pie -O2 -fno-stack-protector
          -mno-red-zone -fcf-protection=none -fno-builtin -fno-asynchronous-unwind-tables
          -fsanitize-coverage=inline-8bit-counters -c ${_src}/target.c
          -o ${CMAKE_CURRENT_BINARY_DIR}/fuzz_target.o
  COMMAND ${LIBVMM_CLANG} -m64 -nostdlib -static -fuse-ld=bfd -Wl,--build-id=none
          -Wl,--no-warn-rwx-segments -Wl,-T,${_src}/target.ld
          -o ${LIBVMM_FUZZ_TARGET} ${CMAKE_CURRENT_BINARY_DIR}/fuzz_target.o
  DEPENDS ${_src}/target.c ${_src}/target.h ${_src}/target.ld
  COMMENT "Building the fuzz target guest (clang, coverage counters)"
  VERBATIM)
add_custom_target(fuzz_target ALL DEPENDS ${LIBVMM_FUZZ_TARGET})
