# lrplan 0.1.0: Megatron-LM schedule flags for warmup=2000,constant,1-sqrt=20%
# iteration mode: the LR per iteration does not depend on --global-batch-size; set it as usual
--train-iters 100000 \
--lr 0.0003 \
--lr-decay-style WSD \
--lr-wsd-decay-style minus_sqrt \
--lr-wsd-decay-iters 20000 \
--lr-warmup-iters 2000
