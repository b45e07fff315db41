//! Energy meter tests on fixture directories: recorded sysfs layouts built in temporary
//! directories, recorded power series, and an NVML library path that does not exist.

mod estimate;
mod fixture;
mod hwmon;
mod nvml;
mod probe;
mod rapl;
mod window;
