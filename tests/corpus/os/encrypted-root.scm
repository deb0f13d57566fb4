;; A LUKS-encrypted root on a laptop, EFI boot.
;; Written for vmfleet's test corpus.

(use-modules (gnu))
(use-service-modules desktop networking ssh)

(operating-system
  (host-name "avalon")
  (timezone "Europe/Berlin")
  (locale "de_DE.utf8")
  (bootloader (bootloader-configuration
                (bootloader grub-efi-bootloader)
                (targets '("/boot/efi"))))
  (mapped-devices (list (mapped-device
                         (source (uuid "9a3b5c1e-2f4d-4e6a-8b7c-0d1e2f3a4b5c"))
                         (target "cryptroot")
                         (type luks-device-mapping))))
  (file-systems (append
                 (list (file-system
                         (device "/dev/mapper/cryptroot")
                         (mount-point "/")
                         (type "ext4")
                         (dependencies mapped-devices))
                       (file-system
                         (device (uuid "4C2D-9E1F" 'fat))
                         (mount-point "/boot/efi")
                         (type "vfat")))
                 %base-file-systems))
  (users (cons (user-account
                (name "jonas")
                (group "users")
                (supplementary-groups '("wheel" "netdev")))
               %base-user-accounts))
  (packages (append (specifications->packages '("emacs" "icecat"))
                    %base-packages))
  (services (cons (service openssh-service-type) %desktop-services)))
