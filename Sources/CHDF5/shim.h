// libhdf5's C API (Debian libhdf5-dev: pkg-config "hdf5", an alternative
// for hdf5-serial; headers in /usr/include/hdf5/serial).
#include <hdf5.h>

// H5T_NATIVE_* and H5P_* are macros that call H5open() and read a global;
// Swift cannot import them, so these wrappers return the ids.
static inline hid_t brine_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t brine_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t brine_h5t_std_i8le(void) { return H5T_STD_I8LE; }
static inline hid_t brine_h5t_std_i16le(void) { return H5T_STD_I16LE; }
static inline hid_t brine_h5t_std_i32le(void) { return H5T_STD_I32LE; }
static inline hid_t brine_h5t_std_i64le(void) { return H5T_STD_I64LE; }
static inline hid_t brine_h5t_std_u8le(void) { return H5T_STD_U8LE; }
static inline hid_t brine_h5t_std_u16le(void) { return H5T_STD_U16LE; }
static inline hid_t brine_h5t_std_u32le(void) { return H5T_STD_U32LE; }
static inline hid_t brine_h5t_std_u64le(void) { return H5T_STD_U64LE; }
static inline hid_t brine_h5t_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t brine_h5t_ieee_f64le(void) { return H5T_IEEE_F64LE; }
static inline hid_t brine_h5t_c_s1(void) { return H5T_C_S1; }
static inline hid_t brine_h5t_native_hbool(void) { return H5T_NATIVE_HBOOL; }
static inline hid_t brine_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t brine_h5p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t brine_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t brine_h5p_link_create(void) { return H5P_LINK_CREATE; }
static inline hid_t brine_h5s_all(void) { return H5S_ALL; }
static inline hid_t brine_h5e_default(void) { return H5E_DEFAULT; }
static inline unsigned brine_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned brine_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline size_t brine_h5t_variable(void) { return H5T_VARIABLE; }
