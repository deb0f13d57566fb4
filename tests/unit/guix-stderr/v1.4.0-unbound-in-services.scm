(use-modules (gnu))
(use-service-modules networking ssh)

(operating-system
  (host-name "probe")
  (timezone "Etc/UTC")
  (bootloader (bootloader-configuration (bootloader grub-bootloader) (targets '("/dev/vda"))))
  (file-systems (cons (file-system (mount-point "/") (device "/dev/vda2") (type "ext4"))
                      %base-file-systems))
  (packages (cons (specification->package "htop") %base-packages))
  (services (cons* (service dhcp-client-service-type) (service nginx-service-type) %base-services)))
