# peers_faiss.cmake - which faiss `scann-peers` links (included by CMakeLists.txt when
# SCANN_BUILD_PEERS is ON). Sets, for the caller:
#   SCANN_FAISS_FOUND    TRUE when some faiss was found
#   SCANN_FAISS_LIBS     what to link (the library, plus OpenBLAS for a source build)
#   SCANN_FAISS_INCLUDE  its include directory ("" for the system one)
#   SCANN_FAISS_ORIGIN   where it came from, for the row labels: "Debian", "system", or the
#                        source build's name ("02dbb4e" from OUTDIR .../faiss-02dbb4e)
#   SCANN_FAISS_CXX_STD  the C++ standard its headers need (20 for current faiss, else 17)
#
# Two kinds of faiss, best first:
#  1. A full-speed static build by ../shared/peers/build-faiss.sh OUTDIR (make peers-faiss):
#     OUTDIR/lib/libfaiss_avx2.a and, on CPUs with AVX-512, libfaiss_avx512.a, with the
#     headers in OUTDIR/include. One of the two is chosen here, at configure time: scann-peers
#     is compiled -march=native for hnswlib anyway, so it never runs on another CPU, and one
#     binary keeps `scann bench --peer` (which runs the scann-peers beside it) unchanged.
#     SCANN_FAISS_LEVEL=avx2 links the AVX2 library on an AVX-512 machine, to compare the two.
#  2. The system's libfaiss (Debian's libfaiss-dev 1.7.3, a generic build without AVX2).
# The existence checks run at every configure, so `make bench` picks up a source build as soon
# as build-faiss.sh has written it.
set(SCANN_FAISS_DIR "$ENV{HOME}/.cache/faiss-02dbb4e" CACHE PATH
    "build-faiss.sh's OUTDIR (lib/libfaiss_avx2.a, include/); used when it holds the library, \
else the system libfaiss. Empty: always the system one")
set(SCANN_FAISS_LEVEL AUTO CACHE STRING
    "Which library of SCANN_FAISS_DIR: AUTO (avx512 when the CPU and the library have it), avx2, avx512")
set_property(CACHE SCANN_FAISS_LEVEL PROPERTY STRINGS AUTO avx2 avx512)

set(SCANN_FAISS_FOUND FALSE)
set(SCANN_FAISS_LIBS "")
set(SCANN_FAISS_INCLUDE "")
set(SCANN_FAISS_ORIGIN "")
set(SCANN_FAISS_CXX_STD 17)

# AVX-512 as faiss's avx512 library needs it (F, BW, DQ, VL), from this machine's CPU flags.
function(scann_cpu_has_avx512 out)
  set(has FALSE)
  if(EXISTS /proc/cpuinfo)
    file(STRINGS /proc/cpuinfo flags LIMIT_COUNT 1 REGEX "^flags")
    if(flags MATCHES " avx512f( |$)" AND flags MATCHES " avx512bw( |$)"
       AND flags MATCHES " avx512dq( |$)" AND flags MATCHES " avx512vl( |$)")
      set(has TRUE)
    endif()
  endif()
  set(${out} ${has} PARENT_SCOPE)
endfunction()

# build-faiss.sh copies the headers last, after every library: until then use the system faiss
# rather than mix its headers with the new library.
if(SCANN_FAISS_DIR AND EXISTS "${SCANN_FAISS_DIR}/lib/libfaiss_avx2.a"
   AND EXISTS "${SCANN_FAISS_DIR}/include/faiss/Index.h")
  set(_faiss_level avx2)
  if(SCANN_FAISS_LEVEL STREQUAL "AUTO")
    scann_cpu_has_avx512(_faiss_cpu_avx512)
    if(_faiss_cpu_avx512 AND EXISTS "${SCANN_FAISS_DIR}/lib/libfaiss_avx512.a")
      set(_faiss_level avx512)
    endif()
  elseif(SCANN_FAISS_LEVEL MATCHES "^(avx2|avx512)$")
    set(_faiss_level ${SCANN_FAISS_LEVEL})
    if(NOT EXISTS "${SCANN_FAISS_DIR}/lib/libfaiss_${_faiss_level}.a")
      message(FATAL_ERROR "SCANN_FAISS_LEVEL=${_faiss_level}: no ${SCANN_FAISS_DIR}/lib/libfaiss_${_faiss_level}.a")
    endif()
  else()
    message(FATAL_ERROR "SCANN_FAISS_LEVEL must be AUTO, avx2 or avx512, not '${SCANN_FAISS_LEVEL}'")
  endif()
  set(SCANN_FAISS_FOUND TRUE)
  # faiss's own CMake links BLAS/LAPACK privately; a static archive leaves that to us.
  set(SCANN_FAISS_LIBS "${SCANN_FAISS_DIR}/lib/libfaiss_${_faiss_level}.a" PkgConfig::OPENBLAS)
  set(SCANN_FAISS_INCLUDE "${SCANN_FAISS_DIR}/include")
  get_filename_component(_faiss_name "${SCANN_FAISS_DIR}" NAME)
  string(REGEX REPLACE "^faiss[-_]?" "" _faiss_name "${_faiss_name}")
  set(SCANN_FAISS_ORIGIN "${_faiss_name}")
  if(SCANN_FAISS_ORIGIN STREQUAL "")
    set(SCANN_FAISS_ORIGIN "source")
  endif()
  set(SCANN_FAISS_CXX_STD 20)
else()
  if(SCANN_FAISS_DIR)
    message(STATUS "faiss: no ${SCANN_FAISS_DIR}/lib/libfaiss_avx2.a and include/faiss (make "
                   "peers-faiss builds them); looking for the system libfaiss")
  endif()
  if(FAISS_LIB AND NOT EXISTS "${FAISS_LIB}") # cached from before libfaiss-dev was removed
    unset(FAISS_LIB CACHE)
  endif()
  find_library(FAISS_LIB faiss)
  if(FAISS_LIB)
    set(SCANN_FAISS_FOUND TRUE)
    set(SCANN_FAISS_LIBS "${FAISS_LIB}")
    set(SCANN_FAISS_ORIGIN "system")
    # Name the packager when a package owns the file: the labels then say "Debian".
    find_program(DPKG_QUERY dpkg-query)
    if(DPKG_QUERY)
      get_filename_component(_faiss_real "${FAISS_LIB}" REALPATH)
      execute_process(COMMAND ${DPKG_QUERY} -S "${_faiss_real}" RESULT_VARIABLE _faiss_rc
                      OUTPUT_QUIET ERROR_QUIET)
      if(_faiss_rc EQUAL 0)
        set(SCANN_FAISS_ORIGIN "Debian")
      endif()
    endif()
  endif()
endif()

if(SCANN_FAISS_FOUND)
  list(GET SCANN_FAISS_LIBS 0 _faiss_lib)
  message(STATUS "faiss for scann-peers: ${_faiss_lib} (${SCANN_FAISS_ORIGIN})")
else()
  message(STATUS "faiss not found (libfaiss-dev, or make peers-faiss): scann-peers without faiss")
endif()
