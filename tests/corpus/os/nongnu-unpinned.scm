;; The usual nonguix laptop kernel, but the channels file pins guix alone:
;; guix says "no code for module (nongnu packages linux)".  Written for
;; vmfleet's test corpus.

(use-modules (gnu)
             (nongnu packages linux)
             (nongnu system linux-initrd))
(use-service-modules networking)

(operating-system
  (kernel linux)
  (initrd microcode-initrd)
  (firmware (list linux-firmware))
  (host-name "hoopoe")
  (timezone "Europe/Lisbon")
  (bootloader (bootloader-configuration
                (bootloader grub-efi-bootloader)
                (targets '("/boot/efi"))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/sda2")
                        (type "ext4"))
                      %base-file-systems))
  (services (cons (service dhcp-client-service-type) %base-services)))
