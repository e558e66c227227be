/*
 * twanon operator console.
 *
 * Plain modern JavaScript, no framework, no build step: index.html loads
 * vendor/twilio.min.js (the Twilio Voice JavaScript SDK, copied there by
 * "make console") and then this file.
 *
 * Settings come from config.json next to the page:
 *
 *   tokenUrl              URL of the twanon_token location ("/token")
 *   identity              optional; sent as ?identity= when the token
 *                         endpoint does not take it from the login
 *   language              "en" or "ja"; otherwise the browser's language
 *   refreshBeforeSeconds  optional; renew the token this long before it
 *                         expires (default 60)
 *   callerVerificationParameter
 *                         optional; the custom parameter holding the
 *                         resolver's caller-ID verdict (default
 *                         "callerVerification")
 *   demo                  optional; { simulateUrl, callers: [{id, label}] }
 *                         replaces Twilio.Device with a local DemoDevice
 *                         that rings from the TwiML nginx returns for a
 *                         simulated webhook
 *   outgoing              optional, default false; true shows Call back
 *                         and Call customer (the masked callback; see
 *                         "Outgoing calls" below); in demo mode they post
 *                         to demo.callbackUrl (default "/demo/callback")
 *
 * Privacy: the page shows only the custom parameters customerName and
 * customerId of a call (see PRIVACY below), and reads two more without
 * showing them: twanonRinging (how many operators ring) and the caller-ID
 * verdict, shown as a badge. It never reads call.parameters (which holds
 * From), and the activity log holds event kinds and times only.
 */

'use strict';

(function () {

/* ---------------------------------------------------------------------
 * Strings: one table, English and Japanese
 */

const STRINGS = {
    en: {
        appName: 'Operator console',
        demoBadge: 'DEMO',
        operatorAs: 'Operator: {identity}',
        thisTabLive: 'live tab',

        stateIdle: 'Not started',
        stateStarting: 'Connecting',
        stateWaiting: 'Available',
        stateRinging: 'Ringing',
        stateInCall: 'In call',
        stateOffline: 'Offline',
        stateElsewhere: 'Live in another tab',

        titleIdle: 'Ready to start',
        titleStarting: 'Connecting…',
        titleWaiting: 'Waiting for calls',
        titleRinging: 'Incoming call',
        titleInCall: 'In call',
        titleOffline: 'Not receiving calls',
        titleElsewhere: 'Calls ring in another tab',

        helpIdle: 'Press Start to allow the microphone and begin taking calls.',
        helpStarting: 'Getting the microphone and your calling session ready.',
        helpWaiting: 'You are available. Calls ring here; keep this tab open.',
        helpOffline: 'Reconnecting to Twilio. Calls cannot reach you until this is back.',
        numberHidden: 'The caller’s number is never shown.',

        start: 'Start',
        stop: 'Stop taking calls',
        cancel: 'Cancel',
        answer: 'Answer',
        decline: 'Decline',
        mute: 'Mute',
        unmute: 'Unmute',
        hangUp: 'Hang up',
        tryAgain: 'Try again now',
        takeOver: 'Take calls in this tab',
        mutedFlag: 'Muted: the customer cannot hear you',
        reconnecting: 'Connection lost. Reconnecting… stay on the line.',
        reconnected: 'Reconnected.',
        callWaiting: 'Call waiting',
        endAndAnswer: 'End current and answer',
        callerUnverified: 'Caller ID not verified',
        callerUnverifiedHelp: 'The phone network did not confirm the caller ID. This is common and no reason to refuse the call; check who you are speaking with as usual.',

        incoming: 'Incoming: {name} (ID: {id})',
        incomingNoId: 'Incoming: {name}',
        customerId: 'ID: {id}',
        unknownCustomer: 'Unknown customer',
        idHidden: 'hidden (looks like a phone number)',
        docTitleRinging: '☎ INCOMING CALL ☎',
        docTitleLive: '● Live',
        docTitleNotLive: 'Not live',
        announceCancelled: 'The caller hung up.',
        announceEnded: 'Call ended.',
        announceWaiting: 'Call waiting: {name}',
        announceWaitingGone: 'The waiting caller hung up.',

        audioTitle: 'Audio devices',
        microphone: 'Microphone',
        speaker: 'Speaker',
        audioBeforeStart: 'The lists fill in after Start.',
        audioNoOutput: 'This browser plays calls on its default speaker; choosing one needs Chrome or Edge.',
        audioDefault: 'Default',
        audioUnnamed: '{kind} {n}',
        audioLost: 'An audio device was unplugged; the console switched to the default one.',
        audioSetFailed: 'Could not switch to that audio device. Check that it is plugged in.',

        logTitle: 'Activity',

        demoTitle: 'Demo mode',
        demoHelp: 'No real calls reach this page. Simulate one: nginx answers a signed sample webhook and the page rings with the parameters of the TwiML it returned.',
        demoCaller: 'Caller',
        simulate: 'Simulate incoming call',
        callerHangsUp: 'Caller hangs up',
        ringOut: 'Let it ring out',
        demoNextGroup: 'Nobody answered: ringing the next group ({n} operators)',
        demoNextGroupOne: 'Nobody answered: ringing the next group (1 operator)',
        demoVoicemail: 'Nobody answered: the caller is offered voicemail',
        demoCallEnded: 'Call ended',
        demoNotRouted: 'The simulated call was not routed to an operator: the caller would hear the fallback message.',
        demoFailed: 'The simulated call could not be made ({detail}). Check that the demo nginx is running.',

        tabElsewhere: 'This console is live in another tab (opened at {time}); calls ring there. Use that tab, or take calls in this one.',
        tabMovedAway: 'Calls now ring in another tab (opened at {time}). To take them here again, use the button.',
        tabOtherClosed: 'The other tab was closed. Press Start to take calls here.',
        tabOtherBusy: 'The other tab is on a call. Try again after the call.',

        errMicDenied: 'The browser is not allowed to use your microphone. Allow the microphone for this site (the icon at the left of the address bar), then press Start again.',
        errMicMissing: 'No microphone was found. Plug in a headset, then press Start again.',
        errMicBusy: 'The microphone is in use by another program. Close that program, then press Start again.',
        errInsecure: 'The microphone only works on a secure (https://) page. Ask your administrator for the https address of this console.',
        errUnsupported: 'This browser cannot take calls. Use a current version of Chrome, Edge, Firefox or Safari.',
        errSdkMissing: 'The calling library did not load. Reload the page; if this keeps happening, tell your administrator (the console was installed without "make console").',
        errConfig: 'The console settings (config.json) could not be loaded. Reload the page; if this keeps happening, tell your administrator.',
        errNetwork: 'Cannot reach the server. Check your network connection.',
        errAuth: 'You are not signed in, or your sign-in has expired. Sign in again, then reload this page.',
        errServer: 'The token server had a problem (HTTP {status}). If this keeps happening, tell your administrator.',
        errBadToken: 'The token server sent an answer the console cannot use. Tell your administrator.',
        errRetryIn: 'Trying again in {s} s.',
        errSignIn: 'Sign-in expired, retrying in {s} s.',
        errRefresh: 'Could not renew your calling session: {reason}',
        errOffline: 'You are not receiving calls: the connection to Twilio closed.',
        errSdk: '{what} {todo} (Twilio error {code})',
        errCredentialsInUrl: 'This page was opened with a user name and password in its address, which browsers do not let the console use. Open it without them: {url}',

        logStarted: 'Start pressed',
        logMicAllowed: 'Microphone allowed',
        logMicRefused: 'Microphone not available',
        logToken: 'Token received',
        logTokenFailed: 'Token request failed',
        logTokenRefreshed: 'Token renewed',
        logRegistered: 'Registered: waiting for calls',
        logUnregistered: 'Unregistered',
        logIncoming: 'Incoming call',
        logAnswered: 'Answered',
        logRejected: 'Declined: the caller moves on',
        logIgnored: 'Declined: left ringing for others',
        logCancelled: 'Caller hung up before answer',
        logEnded: 'Call ended',
        logMuted: 'Muted',
        logUnmuted: 'Unmuted',
        logReconnecting: 'Reconnecting',
        logReconnected: 'Reconnected',
        logBusy: 'Another call declined (busy)',
        logWaiting: 'Call waiting',
        logWaitingGone: 'Waiting caller hung up',
        logSwitched: 'Ended the call to answer the waiting one',
        logSignInRetry: 'Sign-in refused: new token in {s} s',
        logError: 'Error {code}: {what}',
        logAudio: 'Audio devices changed',
        logStopped: 'Stopped',
        logElsewhere: 'Another tab is live',
        logMovedAway: 'Calls moved to another tab',
        logSimulated: 'Simulated call requested',
        logRangOut: 'Nobody answered: the ring ended',
        logNextGroup: 'Next group rung ({n} operators)',
        logNextGroupOne: 'Next group rung (1 operator)',
        logVoicemail: 'Caller offered voicemail',
        logCallEnded: 'Call ended by the TwiML',
    },

    ja: {
        appName: 'オペレーター コンソール',
        demoBadge: 'デモ',
        operatorAs: 'オペレーター: {identity}',
        thisTabLive: '受付中のタブ',

        stateIdle: '未開始',
        stateStarting: '接続中',
        stateWaiting: '受付中',
        stateRinging: '着信中',
        stateInCall: '通話中',
        stateOffline: 'オフライン',
        stateElsewhere: '別のタブで受付中',

        titleIdle: '開始できます',
        titleStarting: '接続しています…',
        titleWaiting: '着信を待っています',
        titleRinging: '着信',
        titleInCall: '通話中',
        titleOffline: '着信を受けられません',
        titleElsewhere: '別のタブで着信します',

        helpIdle: '「開始」を押すとマイクの使用許可を求められ、着信の受付を始めます。',
        helpStarting: 'マイクと通話セッションを準備しています。',
        helpWaiting: '受付中です。着信はこのタブに届きます。タブを開いたままにしてください。',
        helpOffline: 'Twilio に再接続しています。接続が戻るまで着信は届きません。',
        numberHidden: '発信者の電話番号は表示されません。',

        start: '開始',
        stop: '受付を停止',
        cancel: 'キャンセル',
        answer: '応答',
        decline: '拒否',
        mute: 'ミュート',
        unmute: 'ミュート解除',
        hangUp: '通話を終了',
        tryAgain: '今すぐ再試行',
        takeOver: 'このタブで受付する',
        mutedFlag: 'ミュート中: お客様にはあなたの声が聞こえません',
        reconnecting: '接続が切れました。再接続しています… そのままお待ちください。',
        reconnected: '再接続しました。',
        callWaiting: '割り込み着信',
        endAndAnswer: '現在の通話を終了して応答',
        callerUnverified: '発信者番号は未確認',
        callerUnverifiedHelp: '電話網が発信者番号を確認できませんでした。よくあることで、着信を断る理由にはなりません。いつもどおり相手を確認してください。',

        incoming: '着信: {name} 様(ID: {id})',
        incomingNoId: '着信: {name} 様',
        customerId: 'ID: {id}',
        unknownCustomer: '不明なお客様',
        idHidden: '非表示(電話番号のような値)',
        docTitleRinging: '☎ 着信中 ☎',
        docTitleLive: '● 受付中',
        docTitleNotLive: '受付なし',
        announceCancelled: '発信者が電話を切りました。',
        announceEnded: '通話が終了しました。',
        announceWaiting: '割り込み着信: {name} 様',
        announceWaitingGone: '待っていた発信者が電話を切りました。',

        audioTitle: '音声デバイス',
        microphone: 'マイク',
        speaker: 'スピーカー',
        audioBeforeStart: '「開始」の後に一覧が表示されます。',
        audioNoOutput: 'このブラウザーでは既定のスピーカーから再生されます。スピーカーの選択には Chrome か Edge が必要です。',
        audioDefault: '既定',
        audioUnnamed: '{kind} {n}',
        audioLost: '音声デバイスが取り外されたため、既定のデバイスに切り替えました。',
        audioSetFailed: 'その音声デバイスに切り替えられませんでした。接続を確認してください。',

        logTitle: 'アクティビティ',

        demoTitle: 'デモモード',
        demoHelp: 'このページには実際の着信は届きません。着信をシミュレートすると、nginx が署名付きのサンプル Webhook に応答し、返された TwiML のパラメーターでこのページが鳴ります。',
        demoCaller: '発信者',
        simulate: '着信をシミュレート',
        callerHangsUp: '発信者が切る',
        ringOut: '応答せずに鳴らし終える',
        demoNextGroup: '応答なし: 次のグループを呼び出し中(オペレーター {n} 人)',
        demoNextGroupOne: '応答なし: 次のグループを呼び出し中(オペレーター 1 人)',
        demoVoicemail: '応答なし: 発信者に留守番電話を案内します',
        demoCallEnded: '通話終了',
        demoNotRouted: 'シミュレートした着信はオペレーターに転送されませんでした(発信者には代替メッセージが流れます)。',
        demoFailed: '着信をシミュレートできませんでした({detail})。デモ用の nginx が動いているか確認してください。',

        tabElsewhere: 'このコンソールは別のタブ({time} に開いたもの)で受付中です。着信はそちらに届きます。そのタブを使うか、このタブで受付してください。',
        tabMovedAway: '着信は別のタブ({time} に開いたもの)に届くようになりました。このタブに戻すにはボタンを押してください。',
        tabOtherClosed: '別のタブが閉じられました。「開始」を押すとこのタブで受付します。',
        tabOtherBusy: '別のタブは通話中です。通話が終わってから再試行してください。',

        errMicDenied: 'ブラウザーがマイクの使用を許可されていません。アドレスバー左のアイコンからこのサイトにマイクを許可し、もう一度「開始」を押してください。',
        errMicMissing: 'マイクが見つかりません。ヘッドセットを接続し、もう一度「開始」を押してください。',
        errMicBusy: 'マイクが別のプログラムで使用中です。そのプログラムを閉じてから、もう一度「開始」を押してください。',
        errInsecure: 'マイクは安全な (https://) ページでのみ使えます。このコンソールの https のアドレスを管理者に確認してください。',
        errUnsupported: 'このブラウザーでは通話できません。最新の Chrome、Edge、Firefox、Safari を使ってください。',
        errSdkMissing: '通話用ライブラリーを読み込めませんでした。ページを再読み込みしてください。解決しない場合は管理者に連絡してください(「make console」が実行されていません)。',
        errConfig: 'コンソールの設定 (config.json) を読み込めませんでした。ページを再読み込みしてください。解決しない場合は管理者に連絡してください。',
        errNetwork: 'サーバーに接続できません。ネットワーク接続を確認してください。',
        errAuth: 'サインインしていないか、サインインの有効期限が切れています。もう一度サインインしてから、このページを再読み込みしてください。',
        errServer: 'トークンサーバーでエラーが発生しました (HTTP {status})。繰り返し起きる場合は管理者に連絡してください。',
        errBadToken: 'トークンサーバーの応答を利用できません。管理者に連絡してください。',
        errRetryIn: '{s} 秒後に再試行します。',
        errSignIn: 'サインインの有効期限が切れました。{s} 秒後に再試行します。',
        errRefresh: '通話セッションを更新できませんでした: {reason}',
        errOffline: 'Twilio との接続が切れたため、着信を受けられません。',
        errSdk: '{what}{todo} (Twilio エラー {code})',
        errCredentialsInUrl: 'このページはアドレスにユーザー名とパスワードを含めて開かれています。ブラウザーの制限により、この状態ではコンソールを使えません。ユーザー名とパスワードを含めずに開いてください: {url}',

        logStarted: '開始',
        logMicAllowed: 'マイク許可',
        logMicRefused: 'マイク使用不可',
        logToken: 'トークン取得',
        logTokenFailed: 'トークン取得失敗',
        logTokenRefreshed: 'トークン更新',
        logRegistered: '登録完了: 着信待ち',
        logUnregistered: '登録解除',
        logIncoming: '着信',
        logAnswered: '応答',
        logRejected: '拒否: 発信者は次へ',
        logIgnored: '拒否: ほかのオペレーターの呼び出しは継続',
        logCancelled: '応答前に発信者が切断',
        logEnded: '通話終了',
        logMuted: 'ミュート',
        logUnmuted: 'ミュート解除',
        logReconnecting: '再接続中',
        logReconnected: '再接続完了',
        logBusy: '通話中のため別の着信を拒否',
        logWaiting: '割り込み着信',
        logWaitingGone: '待っていた発信者が切断',
        logSwitched: '通話を終了して割り込み着信に応答',
        logSignInRetry: 'サインイン拒否: {s} 秒後に新しいトークン',
        logError: 'エラー {code}: {what}',
        logAudio: '音声デバイスの変更',
        logStopped: '停止',
        logElsewhere: '別のタブが受付中',
        logMovedAway: '別のタブに受付を移動',
        logSimulated: '着信シミュレーション',
        logRangOut: '応答なし: 呼び出し終了',
        logNextGroup: '次のグループを呼び出し(オペレーター {n} 人)',
        logNextGroupOne: '次のグループを呼び出し(オペレーター 1 人)',
        logVoicemail: '発信者に留守番電話を案内',
        logCallEnded: 'TwiML により通話終了',
    },
};

let lang = 'en';

function t(key, vars)
{
    let s = STRINGS[lang][key];

    if (s === undefined) {
        s = STRINGS.en[key];
    }

    if (s === undefined) {
        return key;
    }

    return s.replace(/\{(\w+)\}/g, (m, name) =>
        (vars && vars[name] !== undefined) ? String(vars[name]) : m);
}


/* ---------------------------------------------------------------------
 * Twilio's error codes in plain words: what each means for an operator
 * and what to do. Names are the Voice SDK's own (@twilio/voice-sdk,
 * lib/twilio/errors/generated.ts); 31208 is the older SDK's code for a
 * refused microphone, which SDK 2.x reports as 31401. docs/console.md
 * has the same table, and t/twanon_console.t checks that both list the
 * same codes. A code not listed gets SDK_ERROR_UNKNOWN.
 */

const MIC_DENIED = {
    en: 'Allow the microphone for this site (the icon at the left of the address bar), then press Start again.',
    ja: 'アドレスバー左のアイコンからこのサイトにマイクを許可し、もう一度「開始」を押してください。',
};

const TOKEN_AGAIN = {
    en: 'The console gets a new one by itself. If this keeps happening, tell your administrator: the token settings (API key, API secret, Account SID) may not match.',
    ja: 'コンソールが自動で新しいトークンを取得します。繰り返し起きる場合は管理者に連絡してください (API キー、API シークレット、アカウント SID の設定が合っていない可能性があります)。',
};

const CLOCK_AGAIN = {
    en: 'The console gets a new one by itself. If this keeps happening, check that this computer sets its date and time automatically.',
    ja: 'コンソールが自動で新しいトークンを取得します。繰り返し起きる場合は、このパソコンの日付と時刻が自動設定になっているか確認してください。',
};

const NETWORK_AGAIN = {
    en: 'Check your network connection; the console keeps trying. If other websites work, a firewall may be blocking Twilio: tell your administrator (see "Network requirements" in the console\'s documentation).',
    ja: 'ネットワーク接続を確認してください。コンソールは再試行を続けます。ほかのサイトが見られる場合は、ファイアウォールが Twilio への接続を止めている可能性があります。管理者に連絡してください (コンソールの文書の「Network requirements」)。',
};

const SDK_ERRORS = {
    20101: {
        name: 'AuthorizationErrors.AccessTokenInvalid',
        en: ['Twilio did not accept the console\'s sign-in token.', TOKEN_AGAIN.en],
        ja: ['Twilio がコンソールのサインイン用トークンを受け付けませんでした。', TOKEN_AGAIN.ja],
    },
    20104: {
        name: 'AuthorizationErrors.AccessTokenExpired',
        en: ['The sign-in token for Twilio has expired, or this computer\'s clock is wrong.', CLOCK_AGAIN.en],
        ja: ['Twilio のサインイン用トークンの有効期限が切れたか、このパソコンの時計がずれています。', CLOCK_AGAIN.ja],
    },
    20151: {
        name: 'AuthorizationErrors.AuthenticationFailed',
        en: ['Twilio could not verify the sign-in token.', TOKEN_AGAIN.en],
        ja: ['Twilio がサインイン用トークンを確認できませんでした。', TOKEN_AGAIN.ja],
    },
    31000: {
        name: 'GeneralErrors.UnknownError',
        en: ['Twilio reported an error without saying which.', 'Reload the page. If this keeps happening, tell your administrator the time of the error shown in Activity.'],
        ja: ['Twilio から詳細のないエラーが報告されました。', 'ページを再読み込みしてください。繰り返し起きる場合は、アクティビティに表示された時刻を管理者に伝えてください。'],
    },
    31003: {
        name: 'GeneralErrors.ConnectionTimeoutError',
        en: ['Twilio did not answer in time.', NETWORK_AGAIN.en],
        ja: ['Twilio から時間内に応答がありませんでした。', NETWORK_AGAIN.ja],
    },
    31005: {
        name: 'GeneralErrors.ConnectionError',
        en: ['The connection to Twilio broke off.', NETWORK_AGAIN.en],
        ja: ['Twilio との接続が途切れました。', NETWORK_AGAIN.ja],
    },
    31008: {
        name: 'GeneralErrors.CallCancelledError',
        en: ['The call ended before it could be answered.', 'Nothing to do: the caller hung up first.'],
        ja: ['応答する前に通話が終了しました。', '対応は不要です。発信者が先に切断しました。'],
    },
    31009: {
        name: 'GeneralErrors.TransportError',
        en: ['The console cannot reach Twilio\'s servers.', NETWORK_AGAIN.en],
        ja: ['コンソールが Twilio のサーバーに接続できません。', NETWORK_AGAIN.ja],
    },
    31201: {
        name: 'AuthorizationErrors.AuthorizationError',
        en: ['Twilio refused the request: not authorized.', TOKEN_AGAIN.en],
        ja: ['Twilio が要求を拒否しました (権限がありません)。', TOKEN_AGAIN.ja],
    },
    31202: {
        name: 'SignatureValidationErrors.AccessTokenSignatureValidationFailed',
        en: ['The sign-in token\'s signature is not valid for Twilio.', 'Tell your administrator: the API secret does not belong to the API key (twanon_api_key, twanon_api_secret).'],
        ja: ['サインイン用トークンの署名を Twilio が認めませんでした。', '管理者に連絡してください: API シークレットが API キーと一致していません (twanon_api_key、twanon_api_secret)。'],
    },
    31204: {
        name: 'AuthorizationErrors.InvalidJWTTokenError',
        en: ['Twilio could not read the sign-in token.', TOKEN_AGAIN.en],
        ja: ['Twilio がサインイン用トークンを読み取れませんでした。', TOKEN_AGAIN.ja],
    },
    31205: {
        name: 'AuthorizationErrors.JWTTokenExpiredError',
        en: ['The sign-in token for Twilio has expired.', CLOCK_AGAIN.en],
        ja: ['Twilio のサインイン用トークンの有効期限が切れました。', CLOCK_AGAIN.ja],
    },
    31207: {
        name: 'AuthorizationErrors.JWTTokenExpirationTooLongError',
        en: ['The sign-in token is valid for longer than Twilio allows (24 hours).', 'Tell your administrator: the token server must issue tokens valid for 24 hours at most (twanon_token_ttl).'],
        ja: ['サインイン用トークンの有効期間が Twilio の上限 (24 時間) を超えています。', '管理者に連絡してください: トークンサーバーが発行するトークンの有効期間は 24 時間以下にする必要があります (twanon_token_ttl)。'],
    },
    31208: {
        name: 'SDK 1.x: microphone denied',
        en: ['The browser did not allow the microphone.', MIC_DENIED.en],
        ja: ['ブラウザーがマイクの使用を許可しませんでした。', MIC_DENIED.ja],
    },
    31401: {
        name: 'UserMediaErrors.PermissionDeniedError',
        en: ['The browser did not allow the microphone.', MIC_DENIED.en],
        ja: ['ブラウザーがマイクの使用を許可しませんでした。', MIC_DENIED.ja],
    },
    31402: {
        name: 'UserMediaErrors.AcquisitionFailedError',
        en: ['The microphone could not be opened.', 'Check that the headset is plugged in and not in use by another program, or choose another microphone under Audio devices.'],
        ja: ['マイクを開けませんでした。', 'ヘッドセットが接続されていて、ほかのプログラムで使われていないか確認するか、「音声デバイス」で別のマイクを選んでください。'],
    },
    31480: {
        name: 'ClientErrors.TemporarilyUnavailable',
        en: ['The customer did not answer, or their phone could not be reached.', 'Try again later.'],
        ja: ['お客様が応答しないか、電話につながりませんでした。', '後でもう一度かけてください。'],
    },
    31486: {
        name: 'ClientErrors.BusyHere',
        en: ['The customer\'s line is busy.', 'Try again later.'],
        ja: ['お客様の電話は話し中です。', '後でもう一度かけてください。'],
    },
    31603: {
        name: 'SIPServerErrors.Decline',
        en: ['The customer declined the call.', 'Try again later, or reach the customer another way.'],
        ja: ['お客様が着信を拒否しました。', '後でもう一度かけるか、別の方法で連絡してください。'],
    },
    53000: {
        name: 'SignalingErrors.ConnectionError',
        en: ['The connection to Twilio failed.', NETWORK_AGAIN.en],
        ja: ['Twilio への接続に失敗しました。', NETWORK_AGAIN.ja],
    },
    53001: {
        name: 'SignalingErrors.ConnectionDisconnected',
        en: ['The connection to Twilio was lost.', NETWORK_AGAIN.en],
        ja: ['Twilio との接続が切れました。', NETWORK_AGAIN.ja],
    },
    53405: {
        name: 'MediaErrors.ConnectionError',
        en: ['The call\'s audio could not get through to Twilio.', 'Check your network connection. If calls ring but stay silent or drop, a firewall is blocking the audio (UDP to Twilio\'s media servers): tell your administrator.'],
        ja: ['通話の音声が Twilio に届きませんでした。', 'ネットワーク接続を確認してください。着信はするのに無音になる、または切れる場合は、ファイアウォールが音声 (Twilio のメディアサーバーへの UDP) を止めています。管理者に連絡してください。'],
    },
};

const SDK_ERROR_UNKNOWN = {
    en: ['Twilio reported error {code}, which this console does not know.', 'If this keeps happening, tell your administrator the code; Twilio explains it at https://www.twilio.com/docs/api/errors/{code}'],
    ja: ['Twilio からこのコンソールが知らないエラー {code} が報告されました。', '繰り返し起きる場合は、このコードを管理者に伝えてください。説明は https://www.twilio.com/docs/api/errors/{code} にあります。'],
};

const SDK_ERROR_NONE = {
    en: ['Something went wrong in the calling library.', 'Reload the page. If this keeps happening, tell your administrator.'],
    ja: ['通話用ライブラリーでエラーが発生しました。', 'ページを再読み込みしてください。繰り返し起きる場合は管理者に連絡してください。'],
};

/* { code, what, todo } in the page's language, for an SDK error */

function sdkError(e)
{
    const code = e && Number.isInteger(e.code) ? e.code : null;
    const entry = code === null ? SDK_ERROR_NONE
                  : SDK_ERRORS[code] || SDK_ERROR_UNKNOWN;
    const [what, todo] = entry[lang] || entry.en;
    const fill = (s) => s.replace(/\{code\}/g, String(code));

    return { code: code === null ? '-' : code, what: fill(what),
             todo: fill(todo) };
}

function pickLanguage(configured)
{
    if (typeof configured === 'string' && STRINGS[configured]) {
        return configured;
    }

    const wanted = navigator.languages && navigator.languages.length
        ? navigator.languages : [navigator.language || 'en'];

    for (const l of wanted) {
        const base = String(l).toLowerCase().split('-')[0];

        if (STRINGS[base]) {
            return base;
        }
    }

    return 'en';
}

function applyStrings()
{
    document.documentElement.lang = lang;

    for (const el of document.querySelectorAll('[data-i18n]')) {
        el.textContent = t(el.dataset.i18n);
    }
}


/* ---------------------------------------------------------------------
 * PRIVACY: what of a call the page may show.
 *
 * Only two custom parameters are read, customerName and customerId,
 * and never call.parameters (From is the caller's number; twanon sends
 * the called number there, but the page does not rely on that).
 *
 * Even so, a resolver could put a number into one of them by mistake, so
 * the page checks what it shows:
 *
 * - in the name, every run of six or more digits, which may start with
 *   "+" and may have a few separators between the digits (spaces, dots,
 *   dashes, slashes, brackets: "+1 (555) 987-6543", "090-1234-5678"), is
 *   replaced with "•••". Names rarely hold digits; house numbers and
 *   years are shorter than six digits.
 *
 * - the ID is shown as it is, digits included (customer numbers are often
 *   numeric), unless it looks like a phone number: it starts with "+", or
 *   holds a run of ten or more digits with or without separators (the
 *   length of a national phone number in most countries). Then the whole
 *   ID is hidden and the operator is told why.
 *
 * Both checks run on the NFKC form of the text, so full-width digits
 * ("０９０") count as digits, and \p{Nd} catches digits of other scripts.
 * Control characters go, and each value is cut to 64 characters.
 */

const SEP = '[\\s().\\/\\-\\u2010-\\u2015\\u2212\\u30fc]{0,3}';
const PHONE_IN_NAME = new RegExp('\\+?\\p{Nd}(?:' + SEP + '\\p{Nd}){5,}', 'gu');
const PHONE_LIKE_ID = new RegExp('^\\s*\\+|\\p{Nd}(?:' + SEP + '\\p{Nd}){9,}', 'u');

function cleanText(value)
{
    if (value === undefined || value === null) {
        return '';
    }

    let s = String(value).normalize('NFKC');

    s = s.replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, ' ');
    s = s.replace(/\s+/g, ' ').trim();

    if (s.length > 64) {
        s = s.slice(0, 63) + '…';
    }

    return s;
}

function safeName(value)
{
    const s = cleanText(value).replace(PHONE_IN_NAME, '•••');

    return s === '' ? t('unknownCustomer') : s;
}

function safeId(value)
{
    const s = cleanText(value);

    if (s === '') {
        return '';
    }

    return PHONE_LIKE_ID.test(s) ? t('idHidden') : s;
}

function paramsOf(call)
{
    const params = call.customParameters;

    return params instanceof Map ? params
        : new Map(Object.entries(params || {}));
}

/*
 * The resolver's caller-ID verdict, passed through the module's parameter
 * allowlist under the name config.json gives (callerVerificationParameter,
 * default callerVerification): "failed" and "unverified" show a badge;
 * anything else, or no parameter, shows nothing.
 */

const UNVERIFIED = ['failed', 'unverified'];

function unverifiedOf(params)
{
    const name = app.config
        && typeof app.config.callerVerificationParameter === 'string'
        && app.config.callerVerificationParameter !== ''
        ? app.config.callerVerificationParameter : 'callerVerification';
    const value = params.get(name);

    return typeof value === 'string'
        && UNVERIFIED.includes(value.trim().toLowerCase());
}

function customerOf(call)
{
    const params = paramsOf(call);

    return {
        name: safeName(params.get('customerName')),
        id: safeId(params.get('customerId')),
        unverified: unverifiedOf(params),
    };
}


/* ---------------------------------------------------------------------
 * Small helpers
 */

const $ = (id) => document.getElementById(id);

const ui = {};

for (const id of ['panel', 'panel-title', 'status-pill', 'status-text',
    'operator', 'demo-badge', 'announcer', 'notice', 'notice-text',
    'retry-button', 'info', 'info-text', 'takeover-button',
    'view-idle', 'view-starting', 'view-waiting', 'view-ringing',
    'view-incall', 'start-button', 'stop-button', 'cancel-button',
    'starting-help', 'ring-name', 'ring-id',
    'answer-button', 'reject-button', 'call-name', 'call-id', 'call-timer',
    'muted-flag', 'reconnect-flag', 'mute-button', 'hangup-button',
    'ring-verify', 'call-verify', 'waiting-panel', 'waiting-name',
    'waiting-id', 'waiting-verify', 'waiting-answer-button',
    'waiting-decline-button',
    'demo-panel', 'demo-caller', 'simulate-button', 'demo-hangup-button',
    'demo-ringout-button', 'demo-step',
    'mic-select', 'speaker-select', 'audio-note', 'log'])
{
    ui[id.replace(/-(\w)/g, (m, c) => c.toUpperCase())] = $(id);
}

class Emitter {
    constructor()
    {
        this._handlers = new Map();
    }

    on(name, fn)
    {
        if (!this._handlers.has(name)) {
            this._handlers.set(name, []);
        }

        this._handlers.get(name).push(fn);
        return this;
    }

    off(name, fn)
    {
        const list = this._handlers.get(name) || [];
        const i = list.indexOf(fn);

        if (i >= 0) {
            list.splice(i, 1);
        }

        return this;
    }

    emit(name, ...args)
    {
        for (const fn of (this._handlers.get(name) || []).slice()) {
            try {
                fn(...args);

            } catch (e) {
                console.error(e);
            }
        }
    }
}

/*
 * exponential backoff: 1 s, 2 s, 4 s ... capped at 60 s, each shortened
 * by up to a tenth at random, so that consoles that failed together do
 * not retry together; never above the cap
 */

class Backoff {
    constructor(min, max)
    {
        this.min = min;
        this.max = max;
        this.n = 0;
    }

    next()
    {
        const d = Math.min(this.max, this.min * Math.pow(2, this.n));

        this.n = Math.min(this.n + 1, 30);

        return Math.round(d * (0.9 + Math.random() * 0.1));
    }

    reset()
    {
        this.n = 0;
    }
}

function decodeJwtPayload(token)
{
    try {
        let p = String(token).split('.')[1];

        p = p.replace(/-/g, '+').replace(/_/g, '/');
        p += '='.repeat((4 - p.length % 4) % 4);

        const bytes = Uint8Array.from(atob(p), (c) => c.charCodeAt(0));

        return JSON.parse(new TextDecoder().decode(bytes));

    } catch (e) {
        return null;
    }
}

function clock(date)
{
    return new Intl.DateTimeFormat(lang === 'ja' ? 'ja-JP' : 'en-GB', {
        hour: '2-digit', minute: '2-digit', second: '2-digit',
        hour12: false,
    }).format(date);
}

function duration(ms)
{
    const s = Math.max(0, Math.floor(ms / 1000));
    const two = (n) => String(n).padStart(2, '0');

    if (s >= 3600) {
        return Math.floor(s / 3600) + ':' + two(Math.floor(s / 60) % 60)
            + ':' + two(s % 60);
    }

    return two(Math.floor(s / 60)) + ':' + two(s % 60);
}


/* ---------------------------------------------------------------------
 * State
 */

const app = {
    config: null,
    configUrl: null,
    demo: null,

    state: 'idle',      /* idle starting waiting ringing incall offline
                           elsewhere */
    session: 0,         /* bumped by stop(): stale async work gives up */

    device: null,
    identity: null,
    call: null,
    customer: null,
    waiting: null,      /* a second call while in a call */
    declineLater: [],   /* calls that came while another one rang */

    /*
     * one backoff for everything renewal cannot fix at once: a token
     * fetch that failed, and a token Twilio refused (TOKEN_CODES); reset
     * only once a token works (registered, or no refusal for a while)
     */
    tokenBackoff: new Backoff(1000, 60000),
    registerBackoff: new Backoff(1000, 60000),
    refreshTimer: null,
    refreshing: null,
    renewWaiting: false,
    acceptTimer: null,
    registerTimer: null,
    wake: null,         /* resolves the current retry wait early */

    callStartedAt: 0,
    timerInterval: null,
    titleInterval: null,
    ringer: null,
    demoStep: false,    /* a demo call's next step is on its way */
};

const STATE_TEXT = {
    idle: ['stateIdle', 'titleIdle', 'view-idle'],
    starting: ['stateStarting', 'titleStarting', 'view-starting'],
    waiting: ['stateWaiting', 'titleWaiting', 'view-waiting'],
    ringing: ['stateRinging', 'titleRinging', 'view-ringing'],
    incall: ['stateInCall', 'titleInCall', 'view-incall'],
    offline: ['stateOffline', 'titleOffline', 'view-starting'],
    elsewhere: ['stateElsewhere', 'titleElsewhere', 'view-idle'],
};

function setState(state)
{
    const [pill, title, view] = STATE_TEXT[state];

    app.state = state;

    document.body.className = 'state-' + state
        + (app.demo ? ' is-demo' : '');

    ui.statusText.textContent = t(pill);
    ui.statusText.dataset.i18n = pill;
    ui.panelTitle.textContent = t(title);
    ui.panelTitle.dataset.i18n = title;

    for (const v of ['view-idle', 'view-starting', 'view-waiting',
        'view-ringing', 'view-incall'])
    {
        $(v).hidden = (v !== view);
    }

    const help = state === 'offline' ? 'helpOffline' : 'helpStarting';

    ui.startingHelp.textContent = t(help);
    ui.startingHelp.dataset.i18n = help;

    ui.simulateButton.disabled = (state !== 'waiting');
    ui.demoHangupButton.disabled = !(state === 'ringing'
        || state === 'incall');
    ui.demoRingoutButton.disabled = !(state === 'ringing'
                                      && canRingOut(app.call));

    if (state === 'ringing') {
        startTitleAlert();

    } else {
        stopTitleAlert();
    }

    if (state !== 'incall') {
        stopTimer();
        ui.reconnectFlag.hidden = true;
        ui.mutedFlag.hidden = true;
        ui.waitingPanel.hidden = true;
    }

    if (app.ringer) {
        if (state === 'ringing' && app.demo) {
            app.ringer.start();

        } else {
            app.ringer.stop();
        }
    }

    updateTitle();
}

function updateTitle()
{
    if (app.titleInterval) {
        return;
    }

    const live = isLive() ? t('docTitleLive') : t('docTitleNotLive');

    document.title = live + ' · ' + t(STATE_TEXT[app.state][1])
        + ' · ' + t('appName');
}

/* a title that flashes while a call rings, so that the tab stands out */

function startTitleAlert()
{
    if (app.titleInterval) {
        return;
    }

    let on = true;

    document.title = t('docTitleRinging');

    app.titleInterval = setInterval(() => {
        on = !on;
        document.title = on ? t('docTitleRinging')
            : t('titleRinging') + ' · ' + t('appName');
    }, 700);
}

function stopTitleAlert()
{
    if (app.titleInterval) {
        clearInterval(app.titleInterval);
        app.titleInterval = null;
    }
}

function focusPanel()
{
    ui.panelTitle.focus({ preventScroll: false });
}

function announce(text)
{
    /* cleared first, so that the same text twice is announced twice */

    ui.announcer.textContent = '';

    setTimeout(() => {
        ui.announcer.textContent = text;
    }, 50);
}


/* ---------------------------------------------------------------------
 * Messages and the activity log
 */

function showError(text, retry)
{
    ui.noticeText.textContent = text;
    ui.notice.hidden = false;
    ui.retryButton.hidden = !retry;
}

function clearError()
{
    ui.notice.hidden = true;
    ui.noticeText.textContent = '';
    ui.retryButton.hidden = true;
}

function showInfo(text, takeover)
{
    ui.infoText.textContent = text;
    ui.info.hidden = false;
    ui.takeoverButton.hidden = !takeover;
}

function clearInfo()
{
    ui.info.hidden = true;
    ui.infoText.textContent = '';
    ui.takeoverButton.hidden = true;
}

/*
 * The log holds times and event kinds only: never a name, an ID, a number
 * or a token. Error codes are Twilio's own (31005 ...).
 */

function log(kind, vars)
{
    const text = t(kind, vars);
    const now = new Date();

    /*
     * an event that repeats (the SDK retrying, say) is counted on its
     * entry, which moves to the top, instead of filling the log
     */

    for (const li of Array.from(ui.log.children).slice(0, 2)) {
        if (li.dataset.text === text) {
            const n = Number(li.dataset.count) + 1;

            li.dataset.count = n;
            li.querySelector('time').dateTime = now.toISOString();
            li.querySelector('time').textContent = clock(now);
            li.querySelector('.count').textContent = ' ×' + n;
            ui.log.prepend(li);
            return;
        }
    }

    const li = document.createElement('li');
    const time = document.createElement('time');
    const what = document.createElement('span');
    const count = document.createElement('span');

    time.dateTime = now.toISOString();
    time.textContent = clock(now);
    what.textContent = text;
    count.className = 'count';
    li.dataset.kind = kind;
    li.dataset.text = text;
    li.dataset.count = 1;

    if (vars && vars.todo) {
        li.title = vars.todo;
    }

    li.append(time, ' ', what, count);
    ui.log.prepend(li);

    while (ui.log.children.length > 100) {
        ui.log.lastElementChild.remove();
    }
}


/* ---------------------------------------------------------------------
 * Second tab: only one tab of the console registers. Tabs talk over a
 * BroadcastChannel:
 *
 *   hello     a tab opened; the live tab answers "live"
 *   live      this tab is live (since, opened: times)
 *   gone      the live tab stopped or closed
 *   takeover  a tab asks the live tab to hand over
 *   released  the live tab handed over (to: the asking tab)
 *   busy      the live tab is on a call and keeps it
 *
 * If two tabs go live at the same moment, the one that went live later
 * steps down.
 */

const tab = {
    id: Math.random().toString(36).slice(2) + Date.now().toString(36),
    opened: Date.now(),
    channel: null,
    liveSince: 0,
    other: null,        /* { id, opened } of the live tab, when not us */
    waitingRelease: null,
    refused: false,     /* the live tab answered "busy" */
};

function isLive()
{
    return tab.liveSince !== 0;
}

function tabPost(msg)
{
    if (tab.channel) {
        tab.channel.postMessage(Object.assign({ id: tab.id }, msg));
    }
}

function claimLive()
{
    tab.liveSince = Date.now();
    tab.other = null;
    tabPost({ type: 'live', since: tab.liveSince, opened: tab.opened });
    ui.operator.classList.add('is-live');
}

function releaseLive()
{
    if (isLive()) {
        tab.liveSince = 0;
        tabPost({ type: 'gone' });
    }

    ui.operator.classList.remove('is-live');
}

function otherTabNotice(key)
{
    const time = tab.other ? clock(new Date(tab.other.opened)) : '';

    showInfo(t(key, { time }), true);
}

function onTabMessage(ev)
{
    const msg = ev.data || {};

    if (msg.id === tab.id) {
        return;
    }

    switch (msg.type) {

    case 'hello':
        if (isLive()) {
            tabPost({ type: 'live', since: tab.liveSince,
                      opened: tab.opened });
        }
        break;

    case 'live':
        if (isLive()) {
            const later = msg.since > tab.liveSince
                || (msg.since === tab.liveSince && msg.id > tab.id);

            if (later) {
                /* we were first: say so again, the other tab steps down */
                tabPost({ type: 'live', since: tab.liveSince,
                          opened: tab.opened });
                break;
            }

            tab.other = { id: msg.id, opened: msg.opened };
            stop('elsewhere');
            otherTabNotice('tabMovedAway');
            log('logMovedAway');
            break;
        }

        if (app.state === 'elsewhere' && tab.other
            && tab.other.id === msg.id)
        {
            /* already said (after a handover: "calls now ring ...") */
            break;
        }

        tab.other = { id: msg.id, opened: msg.opened };

        if (app.state === 'idle' || app.state === 'elsewhere') {
            setState('elsewhere');
            otherTabNotice('tabElsewhere');
            log('logElsewhere');
        }
        break;

    case 'gone':
        if (tab.other && tab.other.id === msg.id) {
            tab.other = null;

            if (app.state === 'elsewhere') {
                setState('idle');
                showInfo(t('tabOtherClosed'), false);
            }
        }
        break;

    case 'takeover':
        if (!isLive()) {
            break;
        }

        if (app.state === 'ringing' || app.state === 'incall') {
            tabPost({ type: 'busy', to: msg.id });
            break;
        }

        tab.other = { id: msg.id, opened: msg.opened };
        stop('elsewhere');
        tabPost({ type: 'released', to: msg.id });
        otherTabNotice('tabMovedAway');
        log('logMovedAway');
        break;

    case 'released':
        if (msg.to === tab.id && tab.waitingRelease) {
            tab.waitingRelease();
        }
        break;

    case 'busy':
        if (msg.to === tab.id) {
            tab.refused = true;
            showInfo(t('tabOtherBusy'), true);

            if (tab.waitingRelease) {
                tab.waitingRelease();
            }
        }
        break;
    }
}

function takeOver()
{
    clearInfo();

    if (!tab.channel || !tab.other) {
        tab.other = null;
        start();
        return;
    }

    tab.refused = false;

    const done = new Promise((resolve) => {
        tab.waitingRelease = resolve;

        /* a live tab that does not answer has gone away */
        setTimeout(resolve, 1500);
    });

    tabPost({ type: 'takeover', opened: tab.opened });

    done.then(() => {
        tab.waitingRelease = null;

        if (!tab.refused) {
            tab.other = null;
            start();
        }
    });
}

function setupTabs()
{
    if (!('BroadcastChannel' in window)) {
        return;
    }

    tab.channel = new BroadcastChannel('twanon-console');
    tab.channel.onmessage = onTabMessage;
    tabPost({ type: 'hello' });

    window.addEventListener('pagehide', () => {
        if (isLive()) {
            tabPost({ type: 'gone' });
        }
    });

    /* back from the back-forward cache with a live device */

    window.addEventListener('pageshow', (ev) => {
        if (ev.persisted && isLive()) {
            tabPost({ type: 'live', since: tab.liveSince,
                      opened: tab.opened });
        }
    });
}


/* ---------------------------------------------------------------------
 * Configuration and tokens
 */

/*
 * A page opened as https://user:pass@host/ keeps the user name and
 * password in document.URL and document.baseURI (Chromium hides them
 * from location.href only), and fetch() refuses every URL resolved
 * against them with a TypeError. Told apart from a config.json that is
 * missing, so that the operator is sent to the right place.
 */

function openedWithCredentials()
{
    try {
        const url = new URL(document.URL);

        return url.username !== '' || url.password !== '';

    } catch (e) {
        return false;
    }
}

function addressWithoutCredentials()
{
    const url = new URL(document.URL);

    url.username = '';
    url.password = '';

    return url.href;
}

class CredentialsInUrlError extends Error {
}

async function loadConfig()
{
    if (openedWithCredentials()) {
        throw new CredentialsInUrlError('credentials in the address');
    }

    app.configUrl = new URL('config.json', document.baseURI);

    let res;

    try {
        res = await fetch(app.configUrl, { cache: 'no-store',
                                           credentials: 'same-origin' });

    } catch (e) {
        if (e instanceof TypeError && /credential/i.test(e.message)) {
            throw new CredentialsInUrlError(e.message);
        }

        throw e;
    }

    if (!res.ok) {
        throw new Error('config.json: HTTP ' + res.status);
    }

    const config = await res.json();

    if (!config || typeof config.tokenUrl !== 'string'
        || config.tokenUrl === '')
    {
        throw new Error('config.json: no tokenUrl');
    }

    return config;
}

class TokenError extends Error {
    constructor(kind, status)
    {
        super(kind + (status ? ' ' + status : ''));
        this.kind = kind;       /* network auth server bad */
        this.status = status || 0;
    }
}

async function fetchToken()
{
    const url = new URL(app.config.tokenUrl, app.configUrl);

    if (typeof app.config.identity === 'string' && app.config.identity) {
        url.searchParams.set('identity', app.config.identity);
    }

    let res;

    try {
        res = await fetch(url, { cache: 'no-store',
                                 credentials: 'same-origin',
                                 headers: { Accept: 'application/json' } });

    } catch (e) {
        throw new TokenError('network');
    }

    if (res.status === 401 || res.status === 403) {
        throw new TokenError('auth', res.status);
    }

    if (!res.ok) {
        throw new TokenError('server', res.status);
    }

    let body;

    try {
        body = await res.json();

    } catch (e) {
        throw new TokenError('bad');
    }

    if (!body || typeof body.token !== 'string'
        || !decodeJwtPayload(body.token))
    {
        throw new TokenError('bad');
    }

    return { token: body.token, identity: body.identity };
}

function tokenErrorText(err)
{
    switch (err.kind) {
    case 'network':
        return t('errNetwork');
    case 'auth':
        return t('errAuth');
    case 'server':
        return t('errServer', { status: err.status });
    default:
        return t('errBadToken');
    }
}

function sleep(ms)
{
    return new Promise((resolve) => {
        const timer = setTimeout(done, ms);

        function done()
        {
            clearTimeout(timer);

            if (app.wake === done) {
                app.wake = null;
            }

            resolve();
        }

        app.wake = done;
    });
}

/*
 * Gets a token, retrying with backoff until it works or the session ends
 * (returns null then). Each failure is shown with what to do. The backoff
 * is the one Twilio's refusals use (renewLater), so that a server that
 * hands out tokens Twilio refuses is not asked at network speed.
 */

async function obtainToken(refresh)
{
    const session = app.session;

    for ( ;; ) {
        try {
            const tok = await fetchToken();

            if (session !== app.session) {
                return null;
            }

            /* the backoff is reset once Twilio takes the token */

            if (app.errorFrom === 'token') {
                clearError();
                app.errorFrom = null;
            }

            return tok;

        } catch (err) {
            if (session !== app.session) {
                return null;
            }

            if (!(err instanceof TokenError)) {
                throw err;
            }

            const delay = app.tokenBackoff.next();
            const what = tokenErrorText(err);

            log('logTokenFailed');

            showError((refresh ? t('errRefresh', { reason: what }) : what)
                      + ' ' + t('errRetryIn', { s: Math.round(delay / 1000) }),
                      true);
            app.errorFrom = 'token';

            await sleep(delay);

            if (session !== app.session) {
                return null;
            }
        }
    }
}

/*
 * The page renews the token itself, refreshBeforeSeconds before it
 * expires: the SDK emits tokenWillExpire only once after an updateToken
 * (a known SDK bug), so that event alone is not enough; it is handled
 * too. The delay comes from the token's own lifetime (exp - iat), which
 * does not depend on the browser's clock being right.
 */

function scheduleRefresh(token)
{
    clearTimeout(app.refreshTimer);

    const claims = decodeJwtPayload(token) || {};
    const lead = Number(app.config.refreshBeforeSeconds) > 0
        ? Number(app.config.refreshBeforeSeconds) : 60;

    let life = Number(claims.exp) - Number(claims.iat);

    if (!(life > 0)) {
        life = Number(claims.exp) - Date.now() / 1000;
    }

    if (!(life > 0)) {
        life = 600;
    }

    let delay = life - lead;

    if (delay < life / 2 && life < 2 * lead) {
        delay = Math.max(delay, Math.min(5, life / 2));
    }

    delay = Math.max(1, delay);

    app.refreshTimer = setTimeout(refreshToken,
                                  Math.min(delay * 1000, 0x7fffffff));
}

function refreshToken()
{
    /* during a backoff wait (renewLater), the token comes after it */

    if (app.refreshing || app.renewWaiting || !app.device) {
        return app.refreshing;
    }

    const session = app.session;

    app.refreshing = (async () => {
        const tok = await obtainToken(true);

        if (!tok || session !== app.session || !app.device) {
            return;
        }

        app.device.updateToken(tok.token);
        scheduleRefresh(tok.token);
        log('logTokenRefreshed');
        awaitAcceptance();

    })().catch((e) => {
        console.error(e);

    }).finally(() => {
        app.refreshing = null;
    });

    return app.refreshing;
}


/*
 * Twilio refused the token (TOKEN_CODES). A new one fixes that only if
 * the token server is right, so the page waits before asking for it, 1 s
 * the first time and twice as long after each refusal, up to 60 s, and
 * tells the operator: "Sign-in expired, retrying in N s". Refusals that
 * come while a wait or a renewal is under way add nothing. Without the
 * wait, a server that hands out tokens Twilio refuses would keep the
 * page fetching, updating and being refused as fast as the network goes.
 */

function renewLater(e)
{
    clearTimeout(app.acceptTimer);

    if (app.renewWaiting || app.refreshing || !app.device) {
        return;
    }

    const session = app.session;
    const delay = app.tokenBackoff.next();
    const secs = Math.max(1, Math.ceil(delay / 1000));

    app.renewWaiting = true;
    log('logSignInRetry', { s: secs });
    showError(t('errSignIn', { s: secs }) + ' ' + deviceErrorText(e), true);
    app.errorFrom = 'renew';

    sleep(delay).then(() => {
        app.renewWaiting = false;

        if (session === app.session && app.device) {
            refreshToken();
        }
    });
}

/*
 * Twilio says nothing when it takes a new token, only when it refuses
 * one; no refusal within 10 s counts as taken, as does registering
 */

function awaitAcceptance()
{
    clearTimeout(app.acceptTimer);
    app.acceptTimer = setTimeout(tokenAccepted, 10000);
}

function tokenAccepted()
{
    clearTimeout(app.acceptTimer);
    app.tokenBackoff.reset();

    if (app.errorFrom === 'renew') {
        clearError();
        app.errorFrom = null;
    }
}


/* ---------------------------------------------------------------------
 * Microphone
 */

async function askMicrophone()
{
    if (!window.isSecureContext || !navigator.mediaDevices
        || !navigator.mediaDevices.getUserMedia)
    {
        const e = new Error('insecure');
        e.name = 'InsecureContext';
        throw e;
    }

    /* only for the permission: the SDK opens its own stream per call */

    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });

    for (const track of stream.getTracks()) {
        track.stop();
    }
}

function micErrorText(e)
{
    switch (e && e.name) {
    case 'NotAllowedError':
    case 'PermissionDeniedError':
    case 'SecurityError':
        return t('errMicDenied');
    case 'NotFoundError':
    case 'DevicesNotFoundError':
    case 'OverconstrainedError':
        return t('errMicMissing');
    case 'NotReadableError':
    case 'TrackStartError':
    case 'AbortError':
        return t('errMicBusy');
    case 'InsecureContext':
        return t('errInsecure');
    default:
        return t('errMicDenied');
    }
}


/* ---------------------------------------------------------------------
 * Start and stop
 */

function deviceClass()
{
    if (app.demo) {
        return DemoDevice;
    }

    return window.Twilio && window.Twilio.Device;
}

async function start()
{
    if (app.state !== 'idle' && app.state !== 'elsewhere') {
        return;
    }

    if (tab.other) {
        setState('elsewhere');
        otherTabNotice('tabElsewhere');
        return;
    }

    const Device = deviceClass();

    clearError();
    clearInfo();

    if (!Device) {
        showError(t('errSdkMissing'), false);
        return;
    }

    if (Device.isSupported === false) {
        showError(t('errUnsupported'), false);
        return;
    }

    const session = ++app.session;

    setState('starting');
    claimLive();
    log('logStarted');

    /* the click that started this also unlocks audio for the demo ring */

    if (app.demo && !app.ringer) {
        app.ringer = new Ringer();
    }

    try {
        await askMicrophone();

    } catch (e) {
        if (session !== app.session) {
            return;
        }

        releaseLive();
        setState('idle');
        log('logMicRefused');
        showError(micErrorText(e), false);
        ui.startButton.focus();
        return;
    }

    log('logMicAllowed');

    const tok = await obtainToken(false);

    if (!tok || session !== app.session) {
        return;
    }

    log('logToken');

    app.identity = tok.identity || app.config.identity || null;

    if (app.identity) {
        ui.operator.textContent = t('operatorAs', { identity: app.identity });
        ui.operator.hidden = false;
    }

    let device;

    try {
        device = new Device(tok.token, {
            logLevel: 'error',
            closeProtection: true,
            codecPreferences: ['opus', 'pcmu'],
            tokenRefreshMs: 30000,

            /* a second call while on one is shown (call waiting) */
            allowIncomingWhileBusy: true,
        });

    } catch (e) {
        releaseLive();
        setState('idle');
        showError(deviceErrorText(e), false);
        return;
    }

    if (app.demo) {
        device.setup(app.demo, app.identity);
    }

    app.device = device;
    bindOutgoing(device);
    bindDevice(device);
    scheduleRefresh(tok.token);

    await register(session);
}

async function register(session)
{
    clearTimeout(app.registerTimer);

    try {
        await app.device.register();

    } catch (e) {
        if (session !== app.session || !app.device) {
            return;
        }

        const delay = app.registerBackoff.next();

        logSdkError(e);

        if (app.state === 'starting' || app.state === 'offline') {
            setState('offline');
        }

        showError(deviceErrorText(e) + ' '
                  + t('errRetryIn', { s: Math.round(delay / 1000) }), false);
        app.errorFrom = 'register';

        app.registerTimer = setTimeout(() => register(session), delay);
    }
}

/* why: 'user' (Stop pressed) or 'elsewhere' (another tab took over) */

function stop(why)
{
    app.session++;

    clearTimeout(app.refreshTimer);
    clearTimeout(app.registerTimer);
    clearTimeout(app.acceptTimer);

    if (app.wake) {
        app.wake();
    }

    const device = app.device;

    app.device = null;
    app.call = null;
    app.waiting = null;
    app.declineLater = [];

    if (device) {
        try {
            device.destroy();

        } catch (e) {
            console.error(e);
        }
    }

    clearError();
    refreshAudio();

    if (why === 'elsewhere') {
        tab.liveSince = 0;
        ui.operator.classList.remove('is-live');
        setState('elsewhere');

    } else {
        releaseLive();
        setState('idle');
        log('logStopped');
        ui.startButton.focus();
    }
}


/* ---------------------------------------------------------------------
 * The Device
 */

/* the token was refused: the page gets a new one (SDK_ERRORS says so) */

const TOKEN_CODES = [20101, 20104, 20151, 31201, 31204, 31205];

/* an SDK error in plain words: what it means, what to do, its code */

function deviceErrorText(e)
{
    return t('errSdk', sdkError(e));
}

/* the log keeps the code and what it means; the notice says what to do */

function logSdkError(e)
{
    log('logError', sdkError(e));
}

function bindDevice(device)
{
    const mine = () => app.device === device;

    device.on('registered', () => {
        if (!mine()) {
            return;
        }

        app.registerBackoff.reset();
        clearTimeout(app.registerTimer);
        tokenAccepted();

        if (app.errorFrom === 'register' || app.errorFrom === 'device') {
            clearError();
            app.errorFrom = null;
        }

        log('logRegistered');

        if (app.state === 'starting' || app.state === 'offline') {
            setState('waiting');
            focusPanel();
        }

        refreshAudio();
    });

    device.on('unregistered', () => {
        if (!mine()) {
            return;
        }

        log('logUnregistered');

        /* a call in progress goes on; otherwise register again */

        if (app.state === 'waiting' || app.state === 'starting') {
            setState('offline');
        }

        const delay = app.registerBackoff.next();
        const session = app.session;

        showError(t('errOffline') + ' '
                  + t('errRetryIn', { s: Math.round(delay / 1000) }), false);
        app.errorFrom = 'register';

        clearTimeout(app.registerTimer);
        app.registerTimer = setTimeout(() => register(session), delay);
    });

    device.on('error', (e, call) => {
        if (!mine()) {
            return;
        }

        const code = e && e.code;

        logSdkError(e);

        if (call && call === app.call) {
            /* the call's own error handler reports it */
            return;
        }

        /* still trying to register: say that no call can come in */

        if (app.state === 'starting') {
            setState('offline');
        }

        if (TOKEN_CODES.includes(code)) {
            renewLater(e);
            return;
        }

        showError(deviceErrorText(e), false);
        app.errorFrom = 'device';
    });

    device.on('incoming', (call) => {
        if (mine()) {
            onIncoming(call);
        }
    });

    device.on('tokenWillExpire', () => {
        if (mine()) {
            refreshToken();
        }
    });

    if (device.audio && typeof device.audio.on === 'function') {
        device.audio.on('deviceChange', (lost) => {
            if (!mine()) {
                return;
            }

            log('logAudio');
            refreshAudio();

            if (lost && lost.length) {
                showInfo(t('audioLost'), false);
            }
        });
    }
}


/* ---------------------------------------------------------------------
 * Calls
 *
 * app.call is the call that rings or is answered here; app.waiting is a
 * second call that came in during it (call waiting: the Device is made
 * with allowIncomingWhileBusy). Any further call is declined.
 */

/*
 * "Not me": Decline, and a call that comes while the page is busy.
 * call.reject() answers Twilio "busy", which ends the <Dial>, and with it
 * the ring of every operator in a ring group; call.ignore() only stops
 * this browser's ring, and the others keep ringing. The module tells each
 * <Client> how many operators ring in the custom parameter twanonRinging
 * ("1" to "10"): when it is "1", nobody else rings, and reject() lets the
 * caller move on at once (the module's after-dial step rings the next
 * tier or plays the fallback) instead of after the ring timeout. Absent,
 * or more than one: ignore(). Returns true if the call was rejected.
 */

function ringsAlone(call)
{
    return paramsOf(call).get('twanonRinging') === '1';
}

function declineCall(call)
{
    noteDeclined(call);

    try {
        if (ringsAlone(call)) {
            call.reject();
            return true;
        }

        call.ignore();

    } catch (e) {
        console.error(e);
    }

    return false;
}

function pending(call)
{
    return typeof call.status !== 'function' || call.status() === 'pending';
}

function onIncoming(call)
{
    if (app.call === null) {
        watchCall(call);
        ring(call);
        return;
    }

    if (app.state === 'incall' && app.waiting === null) {
        watchCall(call);
        showWaiting(call);
        return;
    }

    log('logBusy');

    /*
     * While another call rings, ignore() would silence that call too:
     * the SDK has one ring sound and ignore() stops it. So the new call
     * is ignored once the ringing one is answered, declined or gone
     * (Twilio sees no difference: ignore() tells it nothing).
     */

    if (app.state === 'ringing' && !ringsAlone(call)) {
        app.declineLater.push(call);
        return;
    }

    declineCall(call);
}

function flushDeclineLater()
{
    const calls = app.declineLater;

    app.declineLater = [];

    for (const call of calls) {
        if (pending(call)) {
            declineCall(call);
        }
    }
}

function showBadge(el, unverified)
{
    el.hidden = !unverified;
    el.title = unverified ? t('callerUnverifiedHelp') : '';
}

/* makes call the current one and shows who it is */

function adopt(call)
{
    app.call = call;
    app.customer = customerOf(call);

    const { name, id, unverified } = app.customer;

    ui.ringName.textContent = name;
    ui.ringId.textContent = id ? t('customerId', { id }) : '';
    ui.callName.textContent = name;
    ui.callId.textContent = id ? t('customerId', { id }) : '';
    showBadge(ui.ringVerify, unverified);
    showBadge(ui.callVerify, unverified);

    ui.muteButton.textContent = t('mute');
    ui.muteButton.dataset.i18n = 'mute';
}

function ring(call)
{
    adopt(call);

    const { name, id, unverified } = app.customer;

    clearInfo();
    setState('ringing');
    log('logIncoming');
    announce((id ? t('incoming', { name, id }) : t('incomingNoId', { name }))
             + (unverified ? ' · ' + t('callerUnverified') : ''));
    ui.answerButton.focus();
}

/*
 * A second call during a call: a panel under the current one with the
 * name and ID (never the number), and no change of focus, so that a key
 * pressed for the current call does not end it.
 */

function showWaiting(call)
{
    const { name, id, unverified } = customerOf(call);

    app.waiting = call;

    ui.waitingName.textContent = name;
    ui.waitingId.textContent = id ? t('customerId', { id }) : '';
    showBadge(ui.waitingVerify, unverified);
    ui.waitingPanel.hidden = false;

    log('logWaiting');
    announce(t('announceWaiting', { name })
             + (unverified ? ' · ' + t('callerUnverified') : ''));
}

function dropWaiting(kind, spoken)
{
    app.waiting = null;
    ui.waitingPanel.hidden = true;
    log(kind);

    if (spoken) {
        announce(spoken);
    }
}

/* the current call is over; a waiting call, if any, rings in its place */

function ended(kind, spoken)
{
    const next = app.waiting;

    app.call = null;
    app.customer = null;
    app.waiting = null;
    log(kind);

    if (spoken) {
        announce(spoken);
    }

    flushDeclineLater();

    if (next && pending(next)) {
        ring(next);
        return;
    }

    if (app.device) {
        setState(app.device.state === 'unregistered' ? 'offline'
                 : 'waiting');
    }

    focusPanel();
}

/* a call's end, whether it was the current or the waiting one */

function gone(call, kind, spoken, waitingKind, waitingSpoken)
{
    if (call === app.waiting) {
        dropWaiting(waitingKind, waitingSpoken);

    } else if (call === app.call) {
        ended(kind, spoken);
    }
}

function watchCall(call)
{
    const mine = () => app.call === call;

    call.on('accept', () => {
        if (!mine()) {
            return;
        }

        flushDeclineLater();
        log('logAnswered');
        setState('incall');
        startTimer();
        ui.hangupButton.focus();
    });

    call.on('cancel', () => {
        if (call.rangOut) {
            gone(call, 'logRangOut', null, 'logWaitingGone',
                 t('announceWaitingGone'));
            return;
        }

        gone(call, 'logCancelled', t('announceCancelled'), 'logWaitingGone',
             t('announceWaitingGone'));
    });
    call.on('reject', () => gone(call, 'logRejected', null, 'logRejected',
                                 null));
    call.on('disconnect', () => gone(call, 'logEnded', t('announceEnded'),
                                     'logWaitingGone',
                                     t('announceWaitingGone')));

    call.on('error', (e) => {
        if (!mine()) {
            return;
        }

        logSdkError(e);
        showError(deviceErrorText(e), false);
        app.errorFrom = 'call';
    });

    call.on('reconnecting', () => {
        if (!mine()) {
            return;
        }

        log('logReconnecting');
        ui.reconnectFlag.textContent = t('reconnecting');
        ui.reconnectFlag.className = 'flag flag-warn';
        ui.reconnectFlag.hidden = false;
    });

    call.on('reconnected', () => {
        if (!mine()) {
            return;
        }

        log('logReconnected');
        ui.reconnectFlag.textContent = t('reconnected');
        ui.reconnectFlag.className = 'flag flag-ok';
        ui.reconnectFlag.hidden = false;

        setTimeout(() => {
            if (ui.reconnectFlag.textContent === t('reconnected')) {
                ui.reconnectFlag.hidden = true;
            }
        }, 4000);
    });

    call.on('mute', (muted) => {
        if (!mine()) {
            return;
        }

        const key = muted ? 'unmute' : 'mute';

        ui.muteButton.textContent = t(key);
        ui.muteButton.dataset.i18n = key;
        ui.mutedFlag.hidden = !muted;
        log(muted ? 'logMuted' : 'logUnmuted');
    });
}

function answer()
{
    if (app.call && app.state === 'ringing') {
        app.call.accept();
    }
}

function decline()
{
    const call = app.call;

    if (call && app.state === 'ringing' && !declineCall(call)
        && app.call === call)
    {
        /* ignore() says nothing: the page ends the ring itself */
        ended('logIgnored');
    }
}

function declineWaiting()
{
    const call = app.waiting;

    if (call && !declineCall(call) && app.waiting === call) {
        dropWaiting('logIgnored');
    }
}

/* "End current and answer": hang up the current call, take the waiting */

function answerWaiting()
{
    const current = app.call;
    const next = app.waiting;

    if (!current || !next || app.state !== 'incall') {
        return;
    }

    if (!pending(next)) {
        dropWaiting('logWaitingGone');
        return;
    }

    app.waiting = null;
    ui.waitingPanel.hidden = true;

    /* not app.call any more: its disconnect does not end the page's call */
    app.call = null;

    try {
        current.disconnect();

    } catch (e) {
        console.error(e);
    }

    log('logSwitched');

    adopt(next);
    stopTimer();
    ui.callTimer.textContent = duration(0);
    ui.mutedFlag.hidden = true;
    ui.reconnectFlag.hidden = true;

    next.accept();
}

function hangUp()
{
    if (app.call) {
        app.call.disconnect();
    }
}

function toggleMute()
{
    if (app.call && app.state === 'incall') {
        app.call.mute(!app.call.isMuted());
    }
}

function startTimer()
{
    stopTimer();
    app.callStartedAt = Date.now();
    ui.callTimer.textContent = duration(0);

    app.timerInterval = setInterval(() => {
        ui.callTimer.textContent = duration(Date.now() - app.callStartedAt);
    }, 250);
}

function stopTimer()
{
    if (app.timerInterval) {
        clearInterval(app.timerInterval);
        app.timerInterval = null;
    }
}


/* ---------------------------------------------------------------------
 * Audio devices: the lists are rebuilt from device.audio on every
 * deviceChange, so that headsets plugged in and out show up; they show
 * the devices the SDK really uses (it falls back to the default device
 * when the chosen one goes away).
 */

function fillSelect(select, devices, current, kind)
{
    select.textContent = '';

    let n = 0;
    let found = false;

    for (const [id, info] of devices) {
        const o = document.createElement('option');

        n++;
        o.value = id;
        o.textContent = (info && info.label)
            || (id === 'default' ? t('audioDefault')
                : t('audioUnnamed', { kind: t(kind), n }));

        if (id === current) {
            o.selected = true;
            found = true;
        }

        select.append(o);
    }

    return found;
}

function refreshAudio()
{
    const audio = app.device && app.device.audio;

    if (!audio) {
        ui.micSelect.textContent = '';
        ui.speakerSelect.textContent = '';
        ui.micSelect.disabled = true;
        ui.speakerSelect.disabled = true;
        ui.audioNote.textContent = t('audioBeforeStart');
        ui.audioNote.dataset.i18n = 'audioBeforeStart';
        return;
    }

    const inputs = audio.availableInputDevices || new Map();
    const outputs = audio.availableOutputDevices || new Map();

    const mic = (audio.inputDevice && audio.inputDevice.deviceId)
        || 'default';

    let speaker = 'default';

    try {
        const set = audio.speakerDevices && audio.speakerDevices.get();
        const first = set && set.values().next().value;

        if (first && first.deviceId) {
            speaker = first.deviceId;
        }

    } catch (e) {
        /* void */
    }

    fillSelect(ui.micSelect, inputs, mic, 'microphone');
    fillSelect(ui.speakerSelect, outputs, speaker, 'speaker');

    ui.micSelect.disabled = inputs.size === 0;
    ui.speakerSelect.disabled = !audio.isOutputSelectionSupported
        || outputs.size === 0;

    if (!audio.isOutputSelectionSupported) {
        ui.audioNote.textContent = t('audioNoOutput');
        ui.audioNote.dataset.i18n = 'audioNoOutput';

    } else {
        ui.audioNote.textContent = '';
        delete ui.audioNote.dataset.i18n;
    }
}

async function chooseMic()
{
    const audio = app.device && app.device.audio;
    const id = ui.micSelect.value;

    if (!audio) {
        return;
    }

    try {
        await audio.setInputDevice(id);

    } catch (e) {
        showInfo(t('audioSetFailed'), false);
        refreshAudio();
    }
}

async function chooseSpeaker()
{
    const audio = app.device && app.device.audio;
    const id = ui.speakerSelect.value;

    if (!audio || !audio.isOutputSelectionSupported) {
        return;
    }

    try {
        await audio.speakerDevices.set([id]);

        /*
         * the ring sounds on the chosen device, where the operator
         * listens, and on the default one too, so that a headset lying
         * on the desk does not hide a call
         */

        if (audio.ringtoneDevices) {
            const outputs = audio.availableOutputDevices || new Map();
            const ids = [id];

            if (id !== 'default' && outputs.has('default')) {
                ids.push('default');
            }

            await audio.ringtoneDevices.set(ids);
        }

    } catch (e) {
        showInfo(t('audioSetFailed'), false);
        refreshAudio();
    }
}


/* ---------------------------------------------------------------------
 * Demo mode. Fake credentials cannot reach Twilio, so the page uses this
 * DemoDevice instead of Twilio.Device: it takes the real token from
 * tokenUrl, "registers" locally, and rings when asked to simulate a call:
 * nginx answers a signed sample webhook through the demo's simulateUrl
 * with the TwiML its /incoming really produced, and the call carries the
 * <Parameter>s of that TwiML, as Twilio would pass them. The demo call's
 * parameters hold no From.
 */

class DemoAudio extends Emitter {
    constructor()
    {
        super();

        this.availableInputDevices = new Map();
        this.availableOutputDevices = new Map();
        this.isOutputSelectionSupported =
            typeof HTMLMediaElement !== 'undefined'
            && 'setSinkId' in HTMLMediaElement.prototype;
        this.inputDevice = null;

        const speakers = new Set();

        this.speakerDevices = {
            get: () => speakers,
            set: async (ids) => {
                speakers.clear();

                for (const id of [].concat(ids)) {
                    const d = this.availableOutputDevices.get(id);

                    if (!d) {
                        throw new Error('no such device');
                    }

                    speakers.add(d);
                }
            },
        };

        this.ringtoneDevices = { get: () => speakers,
                                 set: async () => {} };

        this._listed = false;
        this._onChange = () => this.update();

        if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) {
            navigator.mediaDevices.addEventListener('devicechange',
                                                    this._onChange);
        }

        this.ready = this.update().catch(() => {});
    }

    async update()
    {
        if (!navigator.mediaDevices
            || !navigator.mediaDevices.enumerateDevices)
        {
            return;
        }

        const list = await navigator.mediaDevices.enumerateDevices();
        const before = new Set([...this.availableInputDevices.keys(),
                                ...this.availableOutputDevices.keys()]);

        this.availableInputDevices = new Map(list
            .filter((d) => d.kind === 'audioinput')
            .map((d) => [d.deviceId, d]));
        this.availableOutputDevices = new Map(list
            .filter((d) => d.kind === 'audiooutput')
            .map((d) => [d.deviceId, d]));

        const lost = [];
        const first = !this._listed;

        this._listed = true;

        if (this.inputDevice
            && !this.availableInputDevices.has(this.inputDevice.deviceId))
        {
            lost.push(this.inputDevice);
            this.inputDevice = null;
        }

        const now = new Set([...this.availableInputDevices.keys(),
                             ...this.availableOutputDevices.keys()]);

        if (!first && (lost.length || now.size !== before.size
                       || [...now].some((id) => !before.has(id))))
        {
            this.emit('deviceChange', lost);
        }
    }

    async setInputDevice(id)
    {
        const d = this.availableInputDevices.get(id);

        if (!d) {
            throw new Error('no such device');
        }

        this.inputDevice = d;
    }

    destroy()
    {
        if (navigator.mediaDevices && navigator.mediaDevices.removeEventListener) {
            navigator.mediaDevices.removeEventListener('devicechange',
                                                       this._onChange);
        }
    }
}

class DemoCall extends Emitter {
    constructor(customParameters)
    {
        super();

        this.customParameters = customParameters;
        this.parameters = {
            CallSid: 'CA' + Array.from(crypto.getRandomValues(
                new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0'))
                .join(''),
        };
        this._status = 'pending';
        this._muted = false;
    }

    status()
    {
        return this._status;
    }

    accept()
    {
        if (this._status === 'pending') {
            this._status = 'open';
            this.emit('accept', this);
        }
    }

    reject()
    {
        if (this._status === 'pending') {
            this._status = 'closed';
            this.emit('reject');
        }
    }

    /* as the SDK's: closed here, with no event */

    ignore()
    {
        if (this._status === 'pending') {
            this._status = 'closed';
        }
    }

    disconnect()
    {
        if (this._status === 'pending') {
            this.reject();

        } else if (this._status === 'open') {
            this._status = 'closed';
            this.emit('disconnect', this);
        }
    }

    mute(muted)
    {
        this._muted = muted !== false;
        this.emit('mute', this._muted, this);
    }

    isMuted()
    {
        return this._muted;
    }

    /*
     * nobody answered: the <Dial> timed out, which the SDK reports as
     * "cancel" too
     */

    ringOut()
    {
        if (this._status === 'pending') {
            this._status = 'closed';
            this.rangOut = true;
            this.emit('cancel');
        }
    }

    /* the simulated caller hangs up */

    hangUp()
    {
        if (this._status === 'pending') {
            this._status = 'closed';
            this.emit('cancel');

        } else if (this._status === 'open') {
            this._status = 'closed';
            this.emit('disconnect', this);
        }
    }
}

class DemoDevice extends Emitter {
    constructor(token)
    {
        super();

        this.token = token;
        this.state = 'unregistered';
        this.audio = new DemoAudio();
        this.calls = [];
    }

    setup(demo, identity)
    {
        this.demo = demo;
        this.identity = identity;
    }

    async register()
    {
        await Promise.all([this.audio.ready,
                           new Promise((r) => setTimeout(r, 150))]);

        if (this.state !== 'destroyed') {
            this.state = 'registered';
            this.emit('registered');
        }
    }

    async unregister()
    {
        this.state = 'unregistered';
        this.emit('unregistered');
    }

    updateToken(token)
    {
        this.token = token;
    }

    destroy()
    {
        for (const call of this.calls) {
            call.hangUp();
        }

        this.state = 'destroyed';
        this.audio.destroy();
        this.emit('destroyed');
    }

    /*
     * One step of a simulated call: the TwiML that simulateUrl returns
     * for the webhook (attempt 0), or for the <Dial> action once nobody
     * answered the first ring (attempt 1) or the second (attempt 2).
     * Returns what the TwiML does:
     *
     *   { kind: 'ringing', operators, call }  a <Dial> rings this page;
     *                                         ring(call) delivers it
     *   { kind: 'voicemail' }                 a <Record>
     *   { kind: 'ended' }                     anything else after a ring
     *   { kind: 'not-routed' }                attempt 0 dials nobody
     *
     * Only element names and our <Client>'s <Parameter>s are read, never
     * an attribute such as the <Dial>'s callerId. previous holds the
     * parameters of the call that rang out: a step whose <Client> lacks
     * one keeps the one the operator saw.
     */

    async simulate(caller, attempt, previous)
    {
        const url = new URL(this.demo.simulateUrl || '/demo/simulate',
                            app.configUrl);

        url.searchParams.set('caller', caller);

        if (attempt) {
            url.searchParams.set('attempt', String(attempt));
        }

        const res = await fetch(url, { cache: 'no-store',
                                       credentials: 'same-origin' });

        if (!res.ok) {
            throw new Error('HTTP ' + res.status);
        }

        const doc = new DOMParser().parseFromString(await res.text(),
                                                    'text/xml');

        if (doc.getElementsByTagName('parsererror').length) {
            throw new Error('not TwiML');
        }

        const dial = doc.getElementsByTagName('Dial')[0];
        const clients = dial
            ? Array.from(dial.getElementsByTagName('Client')) : [];

        const identityOf = (c) => {
            const el = c.getElementsByTagName('Identity')[0];

            return (el ? el.textContent : c.textContent).trim();
        };

        const client = clients.find((c) => identityOf(c) === this.identity)
            || clients[0];

        if (!client) {
            if (doc.getElementsByTagName('Record').length) {
                return { kind: 'voicemail' };
            }

            return { kind: attempt ? 'ended' : 'not-routed' };
        }

        const params = new Map(previous || []);

        for (const p of client.getElementsByTagName('Parameter')) {
            params.set(p.getAttribute('name'), p.getAttribute('value'));
        }

        const call = new DemoCall(params);

        call.demoCaller = caller;
        call.demoAttempt = attempt || 0;
        call.demoAction = dial.hasAttribute('action');

        return { kind: 'ringing', operators: clients.length, call };
    }

    ring(call)
    {
        if (this.state !== 'registered') {
            return;
        }

        this.calls = this.calls.filter((c) => c.status() !== 'closed');
        this.calls.push(call);
        this.emit('incoming', call);
    }

    callerHangsUp()
    {
        for (const call of this.calls) {
            call.hangUp();
        }
    }
}

/* a quiet ring for demo mode (the real SDK plays its own ringtone) */

class Ringer {
    constructor()
    {
        try {
            this.ctx = new (window.AudioContext || window.webkitAudioContext)();

        } catch (e) {
            this.ctx = null;
        }

        this.timer = null;
    }

    burst()
    {
        const ctx = this.ctx;
        const gain = ctx.createGain();
        const now = ctx.currentTime;

        gain.gain.setValueAtTime(0, now);
        gain.gain.linearRampToValueAtTime(0.06, now + 0.05);
        gain.gain.setValueAtTime(0.06, now + 1.2);
        gain.gain.linearRampToValueAtTime(0, now + 1.3);
        gain.connect(ctx.destination);

        for (const f of [440, 480]) {
            const o = ctx.createOscillator();

            o.frequency.value = f;
            o.connect(gain);
            o.start(now);
            o.stop(now + 1.35);
        }
    }

    start()
    {
        if (!this.ctx || this.timer) {
            return;
        }

        this.ctx.resume().catch(() => {});
        this.burst();
        this.timer = setInterval(() => this.burst(), 3000);
    }

    stop()
    {
        clearInterval(this.timer);
        this.timer = null;
    }
}

function setupDemo(demo)
{
    app.demo = demo;

    ui.demoBadge.hidden = false;
    ui.demoPanel.hidden = false;
    ui.demoCaller.textContent = '';

    const callers = Array.isArray(demo.callers) && demo.callers.length
        ? demo.callers : [{ id: '1', label: 'Caller 1' }];

    for (const c of callers) {
        const o = document.createElement('option');

        o.value = String(c.id);
        o.textContent = String(c.label || c.id);
        ui.demoCaller.append(o);
    }
}

/* a simulated call can ring out after its first and its second ring */

function canRingOut(call)
{
    return call instanceof DemoCall && call.demoAttempt < 2;
}

function showDemoStep(key, vars)
{
    ui.demoStep.textContent = key ? t(key, vars) : '';
    ui.demoStep.hidden = !key;
}

async function simulate()
{
    const device = app.device;

    if (!(device instanceof DemoDevice) || app.state !== 'waiting'
        || app.demoStep)
    {
        return;
    }

    ui.simulateButton.disabled = true;
    showDemoStep(null);
    log('logSimulated');

    try {
        const step = await device.simulate(ui.demoCaller.value, 0, null);

        if (step.kind === 'ringing') {
            device.ring(step.call);

        } else {
            showInfo(t('demoNotRouted'), false);
        }

    } catch (e) {
        showError(t('demoFailed', { detail: e.message }), false);
        app.errorFrom = 'demo';

    } finally {
        ui.simulateButton.disabled = (app.state !== 'waiting');
    }
}

/*
 * "Let it ring out": the ringing call ends as if nobody answered, and
 * the page asks simulateUrl for what the <Dial> action does next, then
 * says so in plain words: the next group rings (here too, with the same
 * customer), the caller is offered voicemail, or the call ends.
 */

async function ringOut()
{
    const device = app.device;
    const call = app.call;

    if (!(device instanceof DemoDevice) || app.state !== 'ringing'
        || !canRingOut(call) || app.demoStep)
    {
        return;
    }

    app.demoStep = true;
    ui.demoRingoutButton.disabled = true;
    showDemoStep(null);

    call.ringOut();

    ui.simulateButton.disabled = true;

    try {
        const step = call.demoAction
            ? await device.simulate(call.demoCaller, call.demoAttempt + 1,
                                    call.customParameters)
            : { kind: 'ended' };

        if (app.device !== device) {
            return;
        }

        if (step.kind === 'ringing') {
            const n = step.operators;

            showDemoStep(n === 1 ? 'demoNextGroupOne' : 'demoNextGroup',
                         { n });
            log(n === 1 ? 'logNextGroupOne' : 'logNextGroup', { n });
            device.ring(step.call);

        } else if (step.kind === 'voicemail') {
            showDemoStep('demoVoicemail');
            log('logVoicemail');

        } else {
            showDemoStep('demoCallEnded');
            log('logCallEnded');
        }

    } catch (e) {
        showError(t('demoFailed', { detail: e.message }), false);
        app.errorFrom = 'demo';

    } finally {
        app.demoStep = false;
        ui.simulateButton.disabled = (app.state !== 'waiting');
    }
}


/* ---------------------------------------------------------------------
 * Outgoing calls: the masked callback (config.json "outgoing": true).
 *
 * The operator calls a customer by ID, never by number: Call back on a
 * finished, missed or declined incoming call that carried a customerId,
 * or Call customer with an ID typed in. The page calls
 * device.connect({ params: { customerId } }) with that one parameter;
 * Twilio posts it to the TwiML App's Voice URL (twanon_outgoing), the
 * resolver names the number, and Twilio dials it. The number never
 * reaches the browser, and the page reads nothing of the call object
 * but its events: not call.parameters (To, From).
 *
 * The call uses the same in-call panel as an incoming one (timer, Mute,
 * Hang up) and shows the customer's ID, and the name when an earlier
 * incoming call told it. How it ended, in plain words:
 *
 * - the resolver refused it: the module's fallback answers at once and
 *   hangs up, so the call ends within REFUSED_MS of being connected
 *   without the customer's phone having rung (no "ringing" event, which
 *   SDK 2.x always emits when the phone rings);
 * - busy (31486, or 31603: declined) and no answer (31480, or the phone
 *   rang and the call ended unanswered);
 * - failed: any other SDK error, explained from SDK_ERRORS.
 *
 * In demo mode there is no Twilio: Call back and Call customer post to
 * demo.callbackUrl (a signed sample request to the demo's
 * twanon_outgoing) and say what its TwiML would do: "Dialling customer
 * C-1001" for a <Dial><Number> (the number is dropped unread), "Refused"
 * for a <Say>.
 */

const OUT_STRINGS = {
    en: {
        outTitle: 'Call a customer',
        outHelp: 'Enter the customer ID. Twilio dials the customer’s number; this page never sees it.',
        outIdLabel: 'Customer ID',
        outCall: 'Call customer',
        outCallBack: 'Call back',
        outRecent: 'Recent calls',
        outRecentNone: 'Finished, missed and declined calls appear here.',
        outFinished: 'Finished',
        outMissed: 'Missed',
        outDeclined: 'Declined',
        outNoId: 'No customer ID: cannot call back',
        outBadId: 'A customer ID is 1 to 64 letters, digits, “_”, “.”, “:” or “-”.',
        outNotReady: 'Calls can be placed once the console is available: press Start, or finish the current call.',
        outCustomer: 'Customer',
        outCalling: 'Calling the customer…',
        outRinging: 'The customer’s phone is ringing…',
        outAnnounce: 'Calling customer {id}',
        outRefused: 'The call could not be placed (refused).',
        outNoAnswer: 'The customer did not answer.',
        outFailed: 'The call could not be placed.',
        demoDialling: 'Dialling customer {id}',
        demoRefused: 'Refused: this call cannot be placed',
        demoCallbackFailed: 'The demo callback could not be made ({detail}). Check that the demo nginx is running.',
        logOutCall: 'Outgoing call placed',
        logOutRefused: 'Outgoing call refused',
        logOutBusy: 'Outgoing call: busy',
        logOutNoAnswer: 'Outgoing call: no answer',
        logOutFailed: 'Outgoing call failed',
        logDemoCallback: 'Demo callback requested',
    },

    ja: {
        outTitle: 'お客様に発信',
        outHelp: 'お客様 ID を入力してください。Twilio がお客様の電話番号に発信します。このページに番号は届きません。',
        outIdLabel: 'お客様 ID',
        outCall: '発信',
        outCallBack: '折り返し',
        outRecent: '最近の通話',
        outRecentNone: '終了した通話、応答しなかった通話、拒否した通話がここに表示されます。',
        outFinished: '終了',
        outMissed: '不在',
        outDeclined: '拒否',
        outNoId: 'お客様 ID がないため折り返しできません',
        outBadId: 'お客様 ID は英数字と「_」「.」「:」「-」の 1~64 文字です。',
        outNotReady: '受付中のときに発信できます。「開始」を押すか、通話を終えてください。',
        outCustomer: 'お客様',
        outCalling: 'お客様に発信しています…',
        outRinging: 'お客様の電話を呼び出しています…',
        outAnnounce: 'お客様 {id} に発信中',
        outRefused: '発信できませんでした(拒否されました)。',
        outNoAnswer: 'お客様が応答しませんでした。',
        outFailed: '発信できませんでした。',
        demoDialling: 'お客様 {id} に発信します',
        demoRefused: '拒否: この通話は発信できません',
        demoCallbackFailed: 'デモの折り返しができませんでした({detail})。デモ用の nginx が動いているか確認してください。',
        logOutCall: '発信',
        logOutRefused: '発信拒否',
        logOutBusy: '発信: 話し中',
        logOutNoAnswer: '発信: 応答なし',
        logOutFailed: '発信失敗',
        logDemoCallback: 'デモの折り返し',
    },
};

for (const l of Object.keys(OUT_STRINGS)) {
    Object.assign(STRINGS[l], OUT_STRINGS[l]);
}

const CUSTOMER_ID = /^[A-Za-z0-9_.:-]{1,64}$/;
const REFUSED_MS = 5000;
const BUSY_CODES = [31486, 31603];
const NO_ANSWER_CODES = [31480];
const RECENT_MAX = 10;

const outUi = {};

for (const id of ['out-panel', 'out-form', 'out-id', 'out-call-button',
    'out-error', 'out-recent', 'out-recent-none', 'out-flag'])
{
    outUi[id.slice(4).replace(/-(\w)/g, (m, c) => c.toUpperCase())] = $(id);
}

const out = {
    on: false,
    placing: false,     /* a connect() or demo request under way */
    call: null,
    recent: [],         /* { id, name, outcome }, newest first */
    names: new Map(),   /* customer ID -> name, from incoming calls */
    entries: new WeakMap(),     /* incoming call -> its recent entry */
};

function validCustomerId(value)
{
    return typeof value === 'string' && CUSTOMER_ID.test(value);
}

/* an ID the page may call back: valid, and shown as it is */

function callableId(value)
{
    return validCustomerId(value) && safeId(value) === value;
}

function setupOutgoing(config)
{
    out.on = config.outgoing === true;
    outUi.panel.hidden = !out.on;

    if (!out.on) {
        return;
    }

    outUi.form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        callCustomer();
    });

    outUi.id.addEventListener('input', () => {
        outUi.error.hidden = true;
        outUi.id.removeAttribute('aria-invalid');
    });

    /* the buttons follow the page's state (the body's class) */

    new MutationObserver(outReady).observe(document.body,
                                           { attributes: true,
                                             attributeFilter: ['class'] });
    outReady();
}

function outAvailable()
{
    return out.on && app.device !== null && app.state === 'waiting'
        && !out.placing;
}

function outReady()
{
    const ready = outAvailable();

    outUi.callButton.disabled = !ready;

    for (const b of outUi.recent.querySelectorAll('button')) {
        b.disabled = !ready;
    }
}

function callCustomer()
{
    const id = outUi.id.value.trim();

    if (!validCustomerId(id)) {
        outUi.error.textContent = t('outBadId');
        outUi.error.hidden = false;
        outUi.id.setAttribute('aria-invalid', 'true');
        outUi.id.focus();
        return;
    }

    placeCall(id);
}

/* ---- incoming calls, for Call back */

function bindOutgoing(device)
{
    device.on('incoming', (call) => {
        if (out.on && app.device === device) {
            noteIncoming(call);
        }
    });
}

function noteIncoming(call)
{
    const raw = paramsOf(call).get('customerId');
    const id = typeof raw === 'string' ? raw.trim() : '';
    const entry = { id: callableId(id) ? id : '',
                    name: safeName(paramsOf(call).get('customerName')),
                    outcome: null, answered: false };

    if (entry.id && cleanText(paramsOf(call).get('customerName')) !== '') {
        out.names.set(entry.id, entry.name);
    }

    out.entries.set(call, entry);

    call.on('accept', () => {
        entry.answered = true;
    });

    call.on('disconnect', () => noteOutcome(call,
        entry.answered ? 'outFinished' : 'outMissed'));
    call.on('cancel', () => noteOutcome(call, 'outMissed'));
    call.on('reject', () => noteOutcome(call, 'outDeclined'));
}

/* declineCall() with ignore(): the SDK says nothing, the page does */

function noteDeclined(call)
{
    noteOutcome(call, 'outDeclined');
}

function noteOutcome(call, outcome)
{
    const entry = out.entries.get(call);

    if (!entry || entry.outcome !== null) {
        return;
    }

    entry.outcome = outcome;
    out.recent.unshift(entry);
    out.recent.length = Math.min(out.recent.length, RECENT_MAX);
    renderRecent();
}

function renderRecent()
{
    outUi.recent.textContent = '';
    outUi.recentNone.hidden = out.recent.length > 0;

    for (const entry of out.recent) {
        const li = document.createElement('li');
        const who = document.createElement('span');
        const what = document.createElement('span');

        who.className = 'recent-who';
        who.textContent = entry.name
            + (entry.id ? ' · ' + t('customerId', { id: entry.id }) : '');
        what.className = 'recent-outcome';
        what.textContent = t(entry.outcome);
        li.append(who, what);

        if (entry.id) {
            const b = document.createElement('button');

            b.type = 'button';
            b.className = 'btn btn-secondary callback-button';
            b.textContent = t('outCallBack');
            b.addEventListener('click', () => placeCall(entry.id));
            li.append(b);

        } else {
            const note = document.createElement('span');

            note.className = 'recent-note';
            note.textContent = t('outNoId');
            li.append(note);
        }

        outUi.recent.append(li);
    }

    outReady();
}

/* ---- placing a call */

async function placeCall(id)
{
    if (!validCustomerId(id)) {
        return;
    }

    if (!outAvailable()) {
        showInfo(t('outNotReady'), false);
        return;
    }

    clearError();
    clearInfo();

    if (app.device instanceof DemoDevice) {
        await demoCallback(id);
        return;
    }

    const device = app.device;
    const session = app.session;
    let call;

    out.placing = true;
    outReady();
    log('logOutCall');

    try {
        /* the customer ID, and nothing else */
        call = await device.connect({ params: { customerId: id } });

    } catch (e) {
        out.placing = false;
        outReady();
        logSdkError(e);
        showError(t('outFailed') + ' ' + deviceErrorText(e), false);
        app.errorFrom = 'call';
        return;

    }

    out.placing = false;

    if (session !== app.session || app.device !== device
        || app.call !== null)
    {
        try {
            call.disconnect();

        } catch (e) {
            console.error(e);
        }

        outReady();
        return;
    }

    showOutgoing(call, id);
}

function showOutgoing(call, id)
{
    const name = out.names.get(id) || t('outCustomer');
    const shown = safeId(id);
    const session = app.session;
    const state = { connectedAt: 0, ringing: false, failed: false,
                    ended: false };

    /*
     * the operator ended it (Hang up, or End current and answer for a
     * waiting call): not a refusal; a capture listener, so that it runs
     * before the button's own
     */

    const byOperator = () => {
        if (out.call === call) {
            state.ended = true;
        }
    };

    ui.hangupButton.addEventListener('click', byOperator, true);
    ui.waitingAnswerButton.addEventListener('click', byOperator, true);

    out.call = call;

    adopt(call);
    app.customer = { name, id: shown, unverified: false };
    ui.callName.textContent = name;
    ui.callId.textContent = t('customerId', { id: shown });
    showBadge(ui.callVerify, false);

    watchCall(call);

    call.on('ringing', () => {
        state.ringing = true;

        if (!state.connectedAt) {
            outFlag('outRinging');
        }
    });

    call.on('accept', () => {
        state.connectedAt = Date.now();
        outUi.flag.hidden = true;
    });

    call.on('error', (e) => {
        const code = e && e.code;

        state.failed = true;

        /* SDK_ERRORS says busy and no answer in plain words already */

        if (BUSY_CODES.includes(code)) {
            log('logOutBusy');
            showError(deviceErrorText(e), false);

        } else if (NO_ANSWER_CODES.includes(code)) {
            log('logOutNoAnswer');
            showError(deviceErrorText(e), false);

        } else {
            log('logOutFailed');
            showError(t('outFailed') + ' ' + deviceErrorText(e), false);
        }

        app.errorFrom = 'call';
    });

    call.on('disconnect', () => {
        outUi.flag.hidden = true;
        ui.hangupButton.removeEventListener('click', byOperator, true);
        ui.waitingAnswerButton.removeEventListener('click', byOperator,
                                                   true);

        if (out.call === call) {
            out.call = null;
        }

        if (state.failed || state.ended || session !== app.session) {
            return;
        }

        const quick = !state.connectedAt
            || Date.now() - state.connectedAt < REFUSED_MS;

        if (state.ringing && !state.connectedAt) {
            log('logOutNoAnswer');
            showInfo(t('outNoAnswer'), false);

        } else if (!state.ringing && quick) {
            log('logOutRefused');
            showError(t('outRefused'), false);
            app.errorFrom = 'call';
        }
    });

    setState('incall');
    ui.callTimer.textContent = duration(0);
    outFlag('outCalling');
    announce(t('outAnnounce', { id: shown }));
    ui.hangupButton.focus();
}

function outFlag(key)
{
    outUi.flag.textContent = t(key);
    outUi.flag.dataset.i18n = key;
    outUi.flag.hidden = false;
}

/* ---- demo mode: what the demo's twanon_outgoing would have Twilio do */

async function demoCallback(id)
{
    const demo = app.demo || {};
    const url = new URL(typeof demo.callbackUrl === 'string'
                        && demo.callbackUrl !== ''
                        ? demo.callbackUrl : '/demo/callback',
                        app.configUrl);

    url.searchParams.set('customer', id);

    out.placing = true;
    outReady();
    log('logDemoCallback');

    try {
        const res = await fetch(url, { method: 'POST', cache: 'no-store',
                                       credentials: 'same-origin' });

        if (!res.ok) {
            throw new Error('HTTP ' + res.status);
        }

        const doc = new DOMParser().parseFromString(await res.text(),
                                                    'text/xml');

        if (doc.getElementsByTagName('parsererror').length) {
            throw new Error('not TwiML');
        }

        /* only whether there is a <Number>: its text is never read */

        const dial = doc.getElementsByTagName('Dial')[0];

        if (dial && dial.getElementsByTagName('Number').length) {
            showInfo(t('demoDialling', { id: safeId(id) }), false);

        } else if (doc.getElementsByTagName('Say').length) {
            log('logOutRefused');
            showInfo(t('demoRefused'), false);

        } else {
            throw new Error('no <Dial> or <Say>');
        }

    } catch (e) {
        showError(t('demoCallbackFailed', { detail: e.message }), false);
        app.errorFrom = 'demo';

    } finally {
        out.placing = false;
        outReady();
    }
}


/* ---------------------------------------------------------------------
 * Wiring
 */

async function init()
{
    lang = pickLanguage(null);
    applyStrings();
    setState('idle');
    setupTabs();

    ui.startButton.addEventListener('click', start);
    ui.stopButton.addEventListener('click', () => stop('user'));
    ui.cancelButton.addEventListener('click', () => stop('user'));
    ui.answerButton.addEventListener('click', answer);
    ui.rejectButton.addEventListener('click', decline);
    ui.waitingAnswerButton.addEventListener('click', answerWaiting);
    ui.waitingDeclineButton.addEventListener('click', declineWaiting);
    ui.hangupButton.addEventListener('click', hangUp);
    ui.muteButton.addEventListener('click', toggleMute);
    ui.takeoverButton.addEventListener('click', takeOver);
    ui.simulateButton.addEventListener('click', simulate);
    ui.demoRingoutButton.addEventListener('click', ringOut);
    ui.micSelect.addEventListener('change', chooseMic);
    ui.speakerSelect.addEventListener('change', chooseSpeaker);

    ui.demoHangupButton.addEventListener('click', () => {
        if (app.device instanceof DemoDevice) {
            app.device.callerHangsUp();
        }
    });

    ui.retryButton.addEventListener('click', () => {
        if (app.wake) {
            app.wake();

        } else if (app.errorFrom === 'config') {
            location.reload();
        }
    });

    ui.startButton.disabled = true;

    try {
        app.config = await loadConfig();

    } catch (e) {
        if (e instanceof CredentialsInUrlError) {
            showError(t('errCredentialsInUrl',
                        { url: addressWithoutCredentials() }), false);
            app.errorFrom = 'credentials';
            return;
        }

        showError(t('errConfig'), true);
        app.errorFrom = 'config';
        return;
    }

    lang = pickLanguage(app.config.language);
    applyStrings();

    if (app.config.demo && typeof app.config.demo === 'object') {
        setupDemo(app.config.demo);
    }

    setupOutgoing(app.config);
    setState(app.state);

    if (app.state === 'elsewhere') {
        otherTabNotice('tabElsewhere');
    }

    ui.startButton.disabled = false;
}

init();

})();
