;; append with %default-channels; the extra channel has no introduction.
(append (list (channel
                (name 'corp)
                (url "https://git.corpus.invalid/corp-channel.git")
                (branch "main")))
        %default-channels)
