module libvmm

go 1.19
