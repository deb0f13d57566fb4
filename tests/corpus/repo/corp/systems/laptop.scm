;; A laptop: the base system plus developer tools, EFI boot.  The file's
;; last form is the operating system, so `guix system -L . image
;; corp/systems/laptop.scm' works directly.
;; Written for vmfleet's test corpus.
(define-module (corp systems laptop)
  #:use-module (gnu)
  #:use-module (corp systems base)
  #:use-module ((corp packages tools) #:prefix tools:))

(operating-system
  (inherit %corp-base-os)
  (host-name "corp-laptop")
  (bootloader (bootloader-configuration
                (bootloader grub-efi-bootloader)
                (targets '("/boot/efi"))))
  (file-systems (cons* (file-system
                         (mount-point "/")
                         (device (file-system-label "root"))
                         (type "ext4"))
                       (file-system
                         (mount-point "/boot/efi")
                         (device (uuid "7B1C-2D3E" 'fat))
                         (type "vfat"))
                       %base-file-systems))
  (packages (append tools:%dev-tools
                    (operating-system-packages %corp-base-os))))
