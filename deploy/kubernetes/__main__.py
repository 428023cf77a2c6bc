import sys

from deploy.kubernetes.generate import main

sys.exit(main(sys.argv[1:]))
