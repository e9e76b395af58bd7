// Package packaging holds what installs wefgate as a service: the systemd
// unit template (wefgate.service.in), the sysusers.d entry of its user and
// the configuration file 'make install' puts in place. Its test runs
// 'make install' and checks the unit with systemd-analyze.
package packaging
