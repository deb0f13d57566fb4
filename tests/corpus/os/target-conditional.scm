;; One config for two architectures: the bootloader, the kernel arguments
;; and a service depend on (target-x86-64?).  Written for vmfleet's test corpus.

(use-modules (gnu) (guix utils))
(use-service-modules networking ssh virtualization)
(use-package-modules linux)

(operating-system
  (host-name "merlin")
  (timezone "Europe/Zurich")
  (locale "de_CH.utf8")
  (kernel-arguments (if (target-x86-64?)
                        (cons "mitigations=auto" %default-kernel-arguments)
                        %default-kernel-arguments))
  (bootloader (if (target-x86-64?)
                  (bootloader-configuration
                   (bootloader grub-bootloader)
                   (targets '("/dev/vda")))
                  (bootloader-configuration
                   (bootloader grub-efi-bootloader)
                   (targets '("/boot/efi")))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/vda2")
                        (type "ext4"))
                      %base-file-systems))
  (packages (append (if (target-x86-64?)
                        (list (specification->package "cpuid"))
                        (list (specification->package "dtc")))
                    (list (specification->package "lm-sensors"))
                    %base-packages))
  (services
   (append (list (service dhcp-client-service-type)
                 (service openssh-service-type))
           (if (target-x86-64?)
               (list (service qemu-guest-agent-service-type))
               '())
           %base-services)))
