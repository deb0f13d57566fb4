;; Btrfs subvolumes for / and /home.  Written for vmfleet's test corpus.

(use-modules (gnu))
(use-service-modules networking ssh)
(use-package-modules file-systems linux)

(define %btrfs-root (uuid "0c7f6a1e-55b2-4d0e-9a3e-6b7c8d9e0f1a" 'btrfs))

(operating-system
  (host-name "pipit")
  (timezone "Europe/Budapest")
  (locale "hu_HU.utf8")
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/sda"))))
  (file-systems (append
                 (list (file-system
                         (device %btrfs-root)
                         (mount-point "/")
                         (type "btrfs")
                         (options "subvol=@,compress=zstd"))
                       (file-system
                         (device %btrfs-root)
                         (mount-point "/home")
                         (type "btrfs")
                         (options "subvol=@home,compress=zstd")))
                 %base-file-systems))
  (packages (cons btrfs-progs %base-packages))
  (services (append (list (service dhcp-client-service-type)
                          (service openssh-service-type))
                    %base-services)))
