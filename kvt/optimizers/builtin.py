"""Keras's own optimizers, registered with the defaults kvt uses for them (classes by path,
imported on first use)."""

from kvt.optimizers.registry import OptimizerEntry, register

register(OptimizerEntry("adam", "keras.optimizers:Adam", {"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999},
                        "Adam (Kingma & Ba 2015); the study's baseline"))
register(OptimizerEntry("nadam", "keras.optimizers:Nadam", {"learning_rate": 1e-3},
                        "Adam with Nesterov momentum (Dozat 2016)"))
register(OptimizerEntry("adamw", "keras.optimizers:AdamW", {"learning_rate": 1e-3, "weight_decay": 4e-3},
                        "Adam with decoupled weight decay (Loshchilov & Hutter 2019)"))
register(OptimizerEntry("adamax", "keras.optimizers:Adamax", {"learning_rate": 1e-3},
                        "Adam with the infinity norm (Kingma & Ba 2015)"))
register(OptimizerEntry(
    "sgd", "keras.optimizers:SGD", {"learning_rate": 1e-2, "momentum": 0.0},
    "plain stochastic gradient descent",
    notes="The curvature-aware study used lr 0.1 (image and sequence tasks); on the VT network "
          "lr 0.1 diverges at batch 32, so kvt's default is 0.01 (--lr 0.1 gives the study's)."))
register(OptimizerEntry("momentum", "keras.optimizers:SGD", {"learning_rate": 1e-2, "momentum": 0.9},
                        "SGD with heavy-ball momentum 0.9"))
register(OptimizerEntry("nesterov", "keras.optimizers:SGD", {"learning_rate": 1e-2, "momentum": 0.9, "nesterov": True},
                        "SGD with Nesterov momentum 0.9"))
register(OptimizerEntry("adagrad", "keras.optimizers:Adagrad", {"learning_rate": 1e-2},
                        "Adagrad (Duchi et al. 2011)"))
register(OptimizerEntry("rmsprop", "keras.optimizers:RMSprop", {"learning_rate": 1e-3},
                        "RMSprop (Tieleman & Hinton 2012)"))
register(OptimizerEntry("adadelta", "keras.optimizers:Adadelta", {"learning_rate": 1.0},
                        "Adadelta (Zeiler 2012); lr 1.0 as in the paper"))
register(OptimizerEntry(
    "lamb", "keras.optimizers:Lamb", {"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-6},
    "LAMB, layer-wise adaptive Adam (You et al. 2019), Keras's built-in Lamb",
    notes="Keras's Lamb applies weight_decay (default none) through the base class as "
          "decoupled decay theta <- theta - lr*wd*theta before the step, not inside the "
          "trust-ratio update r = m/(sqrt(v)+eps) + wd*theta of the paper."))
register(OptimizerEntry("lion", "keras.optimizers:Lion", {"learning_rate": 1e-4, "beta_1": 0.9, "beta_2": 0.99},
                        "Lion, sign momentum (Chen et al. 2023); the later study's defaults"))
