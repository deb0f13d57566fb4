;; A server with a fixed address instead of DHCP.  Written for vmfleet's test corpus.

(use-modules (gnu))
(use-service-modules networking ssh)

(operating-system
  (host-name "rail")
  (timezone "UTC")
  (locale "en_US.utf8")
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/vda2")
                        (type "ext4"))
                      %base-file-systems))
  (services
   (append (list (service static-networking-service-type
                          (list (static-networking
                                 (addresses
                                  (list (network-address
                                         (device "eth0")
                                         (value "192.0.2.10/24"))))
                                 (routes
                                  (list (network-route
                                         (destination "default")
                                         (gateway "192.0.2.1"))))
                                 (name-servers '("192.0.2.53")))))
                 (service openssh-service-type))
           %base-services)))
