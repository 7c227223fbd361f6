/**
 * kalman-norm/tfjs: KN and GKN as TensorFlow.js layers, and linkModel for their priors
 * (@tensorflow/tfjs is a peer dependency of this entry only). Both layers are registered with
 * tf.serialization, so model.save / tf.loadLayersModel round-trip them. See docs/TFJS.md.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs';
import { GroupKalmanNormalization } from './group-kalman-normalization';
import { KalmanNormalization } from './kalman-normalization';

tf.serialization.registerClass(KalmanNormalization);
tf.serialization.registerClass(GroupKalmanNormalization);

export { GroupKalmanNormalization, KalmanNormalization };
export type { GroupKalmanNormalizationArgs } from './group-kalman-normalization';
export type { KalmanNormalizationArgs } from './kalman-normalization';
export type { NormalizationArgs } from './normalization-layer';
export { linkModel } from './link-model';
export type { LinkOptions } from './link-model';
