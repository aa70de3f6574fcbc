// The C ABI between the addon and libcornernet_mpi.so, the MPI process group.
// The plugin is the only part of the package linked against libmpi; the addon
// dlopens it (bindings/process_group.cc) only when a run was launched by mpirun,
// so the addon loads on machines without MPI and says what is missing when MPI
// is asked for.
#pragma once
#include <cstddef>

namespace cn {
class ProcessGroup;
}

extern "C" {

#define CN_MPI_PLUGIN_ABI_VERSION 1

// The plugin's ABI version (CN_MPI_PLUGIN_ABI_VERSION at its build).
typedef int (*cn_mpi_abi_version_fn)();
// The MPI library's own version line (MPI_Get_library_version: valid before MPI_Init).
typedef void (*cn_mpi_library_version_fn)(char* out, size_t len);
// This process is failing alone: skip MPI_Finalize at exit (it would wait for the
// other ranks, which wait in a collective for this one) so that mpirun sees the
// failure at once and ends the job.
typedef void (*cn_mpi_abandon_fn)();
// Initialises MPI on first use (MPI_THREAD_SERIALIZED) and returns a group over a
// duplicate of MPI_COMM_WORLD whose collectives give up after `timeout_s`, or
// nullptr with a message in err. The caller owns the group (delete).
typedef cn::ProcessGroup* (*cn_mpi_create_fn)(double timeout_s, char* err, size_t err_len);

#define CN_MPI_ABI_VERSION_SYMBOL "cornernet_mpi_abi_version"
#define CN_MPI_CREATE_SYMBOL "cornernet_mpi_create"
#define CN_MPI_LIBRARY_VERSION_SYMBOL "cornernet_mpi_library_version"
#define CN_MPI_ABANDON_SYMBOL "cornernet_mpi_abandon"
}
