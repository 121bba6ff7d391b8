# Compiles BPF C programs with clang (CO-RE, -target bpf) against a vmlinux.h
# generated from BTF, and turns each object into a libbpf skeleton header.
find_program(REDEYE_CLANG NAMES clang clang-19 clang-16 clang-14 REQUIRED)
find_program(REDEYE_BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

set(REDEYE_BPF_GEN_DIR ${CMAKE_BINARY_DIR}/bpfgen)
file(MAKE_DIRECTORY ${REDEYE_BPF_GEN_DIR})

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(REDEYE_BPF_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(REDEYE_BPF_ARCH arm64)
else()
  set(REDEYE_BPF_ARCH ${CMAKE_SYSTEM_PROCESSOR})
endif()

function(redeye_vmlinux_h btf_file)
  if(NOT EXISTS ${btf_file})
    message(FATAL_ERROR
      "BTF file ${btf_file} not found: the kernel needs CONFIG_DEBUG_INFO_BTF=y, "
      "or pass -DREDEYE_BTF_FILE=/path/to/vmlinux-btf")
  endif()
  add_custom_command(
    OUTPUT ${REDEYE_BPF_GEN_DIR}/vmlinux.h
    COMMAND ${REDEYE_BPFTOOL} btf dump file ${btf_file} format c > ${REDEYE_BPF_GEN_DIR}/vmlinux.h
    DEPENDS ${btf_file}
    COMMENT "Generating vmlinux.h from ${btf_file}")
endfunction()

set(REDEYE_SKELETONS "" CACHE INTERNAL "")
function(redeye_bpf_object name source)
  set(obj ${REDEYE_BPF_GEN_DIR}/${name}.bpf.o)
  set(skel ${REDEYE_BPF_GEN_DIR}/${name}.skel.h)
  file(GLOB bpf_headers ${CMAKE_SOURCE_DIR}/bpf/include/redeye/*.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${REDEYE_CLANG} -g -O2 -Wall -Werror -target bpf
            -D__TARGET_ARCH_${REDEYE_BPF_ARCH}
            -I${REDEYE_BPF_GEN_DIR} -I${CMAKE_SOURCE_DIR}/bpf/include
            -c ${source} -o ${obj}
    DEPENDS ${source} ${bpf_headers} ${REDEYE_BPF_GEN_DIR}/vmlinux.h
    COMMENT "BPF ${name}.bpf.c")
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${REDEYE_BPFTOOL} gen skeleton ${obj} name ${name}_bpf > ${skel}
    DEPENDS ${obj}
    COMMENT "Skeleton ${name}.skel.h")
  set(REDEYE_SKELETONS ${REDEYE_SKELETONS} ${skel} CACHE INTERNAL "")
endfunction()
